"""The test suite's one helper module: run an op, layer or functional on gpunet and on PyTorch (when
installed) and compare outputs and every gradient; check gradients by float64 central differences.

    check_op(lambda x, y: x * y, (3, 1), (4,))                      # tensor methods and operators
    compare(lambda F, x, w: F.conv2d(x, w, stride=2), x, w)         # F: gpunet's or torch's functional
    check_layer(lambda nn: nn.Conv2d(3, 4, 3), x)                   # the same layer, the same weights

Imported as `tests.helpers` (`tests` is a namespace package from the rootdir under --import-mode=importlib).
"""
import numpy as np
import pytest

import gpunet
import gpunet.nn as gnn
import gpunet.nn.functional as GF

try:
    import torch
    import torch.nn as tnn
    import torch.nn.functional as TF
except ImportError:  # the finite-difference checks still run
    torch = tnn = TF = None

FD_EPS = 1e-6
TOL = {"float64": (1e-10, 1e-8), "float32": (1e-5, 1e-5)}  # (atol, rtol) of compare and check_layer


def needs_torch():
    if torch is None:
        pytest.skip("torch is not installed")
    return torch


def simulated(device):
    """True for the cuda device in Numba's simulator, where a kernel launch costs ~25 ms: tests of
    kernel-backed ops (conv, pooling, erf, optimizer steps) use smaller inputs there."""
    return device != "cpu" and gpunet.cuda.is_simulated()


def lib(t):
    """The module a tensor belongs to, so one lambda serves both: lib(x).where(c, x, y)."""
    return gpunet if isinstance(t, gpunet.Tensor) else torch


def as_tuple(out):
    """A function's outputs as a tuple, whether it returned one tensor or a tuple/list of them."""
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def to_numpy(t):
    """Host NumPy array of a gpunet tensor (a copy) or a torch tensor."""
    if isinstance(t, gpunet.Tensor):
        return np.array(t.detach().cpu().numpy())
    return t.detach().cpu().numpy()


to_np = to_numpy


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def make_inputs(shapes, seed=0, low=-2.0, high=2.0):
    """Random float64 arrays for shape tuples; NumPy arrays are used as given (copied)."""
    rng = np.random.default_rng(seed)
    return [s.copy() if isinstance(s, np.ndarray) else rng.uniform(low, high, size=s) for s in shapes]


# ---- the shared core: run on gpunet, backpropagate random seeds, compare with torch ------------------
def _run_and_backward(run, arrays, needs, device, seed):
    """gpunet tensors from arrays, run(*tensors), and one backward of a random seed per float output:
    (run's result, the input tensors, the outputs as a tuple, the seeds,
    whether anything was differentiated)."""
    xs = [gpunet.tensor(a, device=device, requires_grad=n) for a, n in zip(arrays, needs)]
    result = run(*xs)
    outs = as_tuple(result)
    rng = np.random.default_rng(seed)
    seeds = [rng.uniform(-1, 1, size=tuple(o.shape)) if o.is_floating_point() else None for o in outs]
    diff = [(o, s) for o, s in zip(outs, seeds) if s is not None and o.requires_grad]
    if diff:
        gpunet.autograd.backward([o for o, _ in diff],
                                 [gpunet.tensor(s, dtype=o.dtype, device=device) for o, s in diff])
    for x, a in zip(xs, arrays):
        if x.grad is not None:
            assert tuple(x.grad.shape) == a.shape, (
                f"grad shape {tuple(x.grad.shape)} != input shape {a.shape}")
            assert x.grad.dtype == x.dtype and x.grad.device == x.device
    return result, xs, outs, seeds, bool(diff)


def _compare_with_torch(run, arrays, needs, xs, outs, seeds, atol, rtol):
    """run(*torch tensors) against gpunet's outputs, then the same seeds backpropagated: every input grad."""
    ts = [torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    touts = as_tuple(run(*ts))
    assert len(touts) == len(outs), f"{len(outs)} outputs, torch gives {len(touts)}"
    for i, (o, t) in enumerate(zip(outs, touts)):
        assert tuple(o.shape) == tuple(t.shape), (
            f"output {i}: shape {tuple(o.shape)} vs torch {tuple(t.shape)}")
        assert o.dtype.name == str(t.dtype).split(".")[-1], f"output {i}: dtype {o.dtype} vs torch {t.dtype}"
        np.testing.assert_allclose(to_numpy(o), to_numpy(t), atol=atol, rtol=rtol, equal_nan=True,
                                   err_msg=f"forward output {i}")
        assert o.requires_grad == t.requires_grad, f"output {i}: requires_grad {o.requires_grad} vs torch"
    tdiff = [(t, torch.tensor(s, dtype=t.dtype)) for t, s in zip(touts, seeds)
             if s is not None and t.requires_grad]
    if tdiff:
        torch.autograd.backward([t for t, _ in tdiff], [s for _, s in tdiff])
    for i, (x, t) in enumerate(zip(xs, ts)):
        if needs[i]:
            # unused input: zero grad
            mine = np.zeros(arrays[i].shape) if x.grad is None else to_numpy(x.grad)
            ref = np.zeros(arrays[i].shape) if t.grad is None else to_numpy(t.grad)
            np.testing.assert_allclose(mine, ref, atol=atol, rtol=rtol, equal_nan=True,
                                       err_msg=f"gradient of input {i} vs torch")


def fd_check(fn, arrays, needs, seeds, xs, device, eps=FD_EPS, atol=1e-5, rtol=1e-4):
    """Central differences of sum(seed * fn(*tensors)) against the analytic gradients already in xs[i].grad.

    fn takes gpunet tensors made from `arrays`; every element of every input with needs[i] is perturbed by
    +-eps. An input whose grad is None must have an all-zero numeric gradient. On the simulated cuda
    device, where each evaluation launches Python-run kernels (~25 ms each), the differences are taken on
    the cpu device, whose forward value must then equal the device's; a function that holds tensors of
    the device (a target, a mask) cannot run there, and only the elements fd_elements picks are perturbed.
    """
    def objective(arrs, where):
        with gpunet.no_grad():
            outs = as_tuple(fn(*[gpunet.tensor(a, device=where) for a in arrs]))
        return sum(float((to_numpy(o) * s).sum()) for o, s in zip(outs, seeds) if s is not None)

    where = device
    if simulated(device):
        try:
            on_cpu = objective(arrays, "cpu")
        except RuntimeError as exc:
            if "device" not in str(exc):
                raise
        else:
            np.testing.assert_allclose(objective(arrays, device), on_cpu, rtol=1e-9, atol=1e-12,
                                       err_msg="forward on the simulated cuda device vs the cpu device")
            where = "cpu"
    for i, (a, n) in enumerate(zip(arrays, needs)):
        if not n:
            continue
        work = [b.copy() for b in arrays]
        flat = work[i].reshape(-1)
        picked = fd_elements(flat.size, where, seed=i)
        numeric = np.zeros(picked.size)
        for k, e in enumerate(picked):
            orig = flat[e]
            flat[e] = orig + eps
            plus = objective(work, where)
            flat[e] = orig - eps
            minus = objective(work, where)
            flat[e] = orig
            numeric[k] = (plus - minus) / (2 * eps)
        analytic = np.zeros(a.shape) if xs[i].grad is None else to_numpy(xs[i].grad)
        np.testing.assert_allclose(analytic.reshape(-1)[picked], numeric, atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i} (flat elements {picked.tolist()[:8]}...) "
                                           f"vs finite differences")


FD_ELEMENTS_SIMULATED = 6


def fd_elements(size, device, seed=0):
    """Which flat elements fd_check perturbs: all of them, except on the simulated cuda device: there the
    first, the last and a few seeded random ones (the same test's cpu run checks every element, and both
    runs compare with PyTorch where it is installed)."""
    if not simulated(device) or size <= FD_ELEMENTS_SIMULATED:
        return np.arange(size)
    rng = np.random.default_rng(seed)
    middle = rng.choice(np.arange(1, size - 1), FD_ELEMENTS_SIMULATED - 2, replace=False)
    return np.unique(np.concatenate([[0, size - 1], middle]))


# ---- ops (tensor methods and operators), functionals, layers ---------------------------------------------
def check_op(fn, *shapes, torch_fn=None, low=-2.0, high=2.0, seed=0, grad=True, fd=True, device="cpu",
             atol=1e-7, rtol=1e-6, fd_atol=1e-5, fd_rtol=1e-4):
    """fn(*tensors) on gpunet against PyTorch (forward, dtype, requires_grad, every input grad), and every
    input grad against float64 central differences. Float inputs require grad when `grad`; integer/bool
    arrays passed as inputs never do. Returns gpunet's result."""
    arrays = make_inputs(shapes, seed, low, high)
    needs = [grad and a.dtype.kind == "f" for a in arrays]
    result, xs, outs, seeds, diff = _run_and_backward(fn, arrays, needs, device, seed + 1)
    if torch is not None:
        _compare_with_torch(torch_fn or fn, arrays, needs, xs, outs, seeds, atol, rtol)
    if diff and fd and all(a.dtype == np.float64 for a, n in zip(arrays, needs) if n):
        fd_check(fn, arrays, needs, seeds, xs, device, FD_EPS, fd_atol, fd_rtol)
    return result


def compare(fn, *arrays, dtype="float64", needs=None, device="cpu", atol=None, rtol=None, fd=None, seed=0,
            check_torch=True):
    """fn(gpunet F, *tensors) against fn(torch F, *tensors) (when torch is installed): outputs and every
    input grad. Float arrays are cast to dtype and require grad unless needs[i] is False. fd (default: when
    dtype is float64 and torch is missing) adds the finite-difference check. Returns gpunet's outputs."""
    d_atol, d_rtol = TOL[dtype]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    needs = [a.dtype.kind == "f" for a in arrays] if needs is None else list(needs)
    _, xs, outs, seeds, diff = _run_and_backward(lambda *t: fn(GF, *t), arrays, needs, device, seed + 7)
    if torch is not None and check_torch:
        _compare_with_torch(lambda *t: fn(TF, *t), arrays, needs, xs, outs, seeds, atol, rtol)
    if fd is None:
        fd = torch is None and dtype == "float64"
    if fd and diff:
        fd_check(lambda *t: fn(GF, *t), arrays, needs, seeds, xs, device)
    return outs if len(outs) > 1 else outs[0]


def gradcheck(fn, *arrays, device="cpu"):
    """gpunet.autograd.gradcheck of fn(GF, *tensors) over float64 copies of arrays (float ones need grad)."""
    xs = [gpunet.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, device=device,
                        requires_grad=a.dtype.kind == "f") for a in arrays]
    assert gpunet.autograd.gradcheck(lambda *t: fn(GF, *t), xs)


def state_layout(module):
    return {k: (tuple(v.shape), str(v.dtype).split(".")[-1]) for k, v in module.state_dict().items()}


def port(src, dst):
    """Copy src's state_dict values into dst through NumPy (either direction, gpunet <-> torch)."""
    if isinstance(dst, gnn.Module):
        dst.load_state_dict({k: gpunet.tensor(v.detach().cpu().numpy()) for k, v in src.state_dict().items()})
    else:
        dst.load_state_dict({k: torch.tensor(to_numpy(v)) for k, v in src.state_dict().items()})


def check_layer(make, *arrays, dtype="float64", train=True, steps=1, atol=None, rtol=None, device="cpu",
                needs=None):
    """needs[i] False: float input i does not require grad.

    Returns (gpunet module, torch module, gpunet outputs of the last step).
    """
    d_atol, d_rtol = TOL[dtype]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    tm = make(tnn).to(getattr(torch, dtype))
    gm = make(gnn).to(getattr(gpunet, dtype))
    assert state_layout(gm) == state_layout(tm), f"state_dict layout {state_layout(gm)} vs {state_layout(tm)}"
    assert [n for n, _ in gm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    port(tm, gm)
    gm.to(device)
    gm.train(train)
    tm.train(train)
    for step in range(steps):
        arrs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
        req = [a.dtype.kind == "f" and (needs is None or needs[i]) for i, a in enumerate(arrs)]
        xs = [gpunet.tensor(a, device=device, requires_grad=r) for a, r in zip(arrs, req)]
        ts = [torch.tensor(a, requires_grad=r) for a, r in zip(arrs, req)]
        out, tout = gm(*xs), tm(*ts)
        outs = out if isinstance(out, tuple) else (out,)
        touts = tout if isinstance(tout, tuple) else (tout,)
        rng = np.random.default_rng(step)
        seeds = []
        for o, t in zip(outs, touts):
            assert tuple(o.shape) == tuple(t.shape), f"shape {tuple(o.shape)} vs torch {tuple(t.shape)}"
            assert o.dtype.name == str(t.dtype).split(".")[-1]
            np.testing.assert_allclose(to_numpy(o), to_numpy(t), atol=atol, rtol=rtol,
                                       err_msg="forward output")
            seeds.append(rng.uniform(-1, 1, size=tuple(o.shape)) if t.requires_grad else None)
        pairs = [(o, t, s) for o, t, s in zip(outs, touts, seeds) if s is not None]
        if pairs:
            gpunet.autograd.backward([o for o, _, _ in pairs],
                                     [gpunet.tensor(s, dtype=o.dtype, device=device) for o, _, s in pairs])
            torch.autograd.backward([t for _, t, _ in pairs], [torch.tensor(s, dtype=t.dtype) for _, t,
                                                               s in pairs])
        for i, (x, t) in enumerate(zip(xs, ts)):
            if t.grad is not None or x.grad is not None:
                np.testing.assert_allclose(to_numpy(x.grad), to_numpy(t.grad), atol=atol, rtol=rtol,
                                           err_msg=f"gradient of input {i}")
        for (name, p), (_, tp) in zip(gm.named_parameters(), tm.named_parameters()):
            if tp.grad is None:
                assert p.grad is None, f"{name}: gpunet has a gradient, torch has none"
                continue
            np.testing.assert_allclose(to_numpy(p.grad), to_numpy(tp.grad), atol=atol, rtol=rtol,
                                       err_msg=f"gradient of parameter {name}")
        for (name, b), (_, tb) in zip(gm.named_buffers(), tm.named_buffers()):
            np.testing.assert_allclose(to_numpy(b), to_numpy(tb), atol=atol, rtol=max(rtol, 1e-7),
                                       err_msg=f"buffer {name}")
    return gm, tm, out
