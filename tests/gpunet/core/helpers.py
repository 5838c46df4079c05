"""check_op: one line per op compares forward values and every input gradient with PyTorch (when installed)
and checks every input gradient against float64 central differences.

    check_op(lambda x, y: x * y, (3, 1), (4,))           # shapes -> random float64 inputs
    check_op(lambda x: x.sum(1), (2, 3), torch_fn=...)    # when the PyTorch spelling differs
"""
import numpy as np

import gpunet
from tests.gpunet._helpers_common import FD_EPS, as_tuple, fd_check, to_numpy

try:
    import torch
except ImportError:  # the finite-difference check still runs
    torch = None


def make_inputs(shapes, seed=0, low=-2.0, high=2.0):
    """Random float64 arrays for shape tuples; NumPy arrays are used as given (copied)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for s in shapes:
        if isinstance(s, np.ndarray):
            arrays.append(s.copy())
        else:
            arrays.append(rng.uniform(low, high, size=s))
    return arrays


def _is_float(a):
    return a.dtype.kind == "f"


def check_op(fn, *shapes, torch_fn=None, low=-2.0, high=2.0, seed=0, grad=True, fd=True, device="cpu",
             atol=1e-7, rtol=1e-6, fd_atol=1e-5, fd_rtol=1e-4):
    """Run fn on gpunet tensors; compare with torch (forward, dtype, every grad) and finite differences.

    Float inputs require grad when `grad`; integer/bool arrays passed as inputs never do. The gradient
    seed is a random tensor per float output, so the whole vector-Jacobian product is checked.
    Returns the gpunet outputs.
    """
    arrays = make_inputs(shapes, seed, low, high)
    needs = [grad and _is_float(a) for a in arrays]
    xs = [gpunet.tensor(a, device=device, requires_grad=n) for a, n in zip(arrays, needs)]
    result = fn(*xs)
    outs = as_tuple(result)
    rng = np.random.default_rng(seed + 1)
    seeds = [rng.uniform(-1, 1, size=tuple(o.shape)) if o.is_floating_point() else None for o in outs]
    diff = [(o, s) for o, s in zip(outs, seeds) if s is not None and o.requires_grad]
    if grad and diff:
        gpunet.autograd.backward([o for o, _ in diff],
                                 [gpunet.tensor(s, dtype=o.dtype, device=device) for o, s in diff])
    for x, a in zip(xs, arrays):
        if x.grad is not None:
            assert tuple(x.grad.shape) == a.shape, f"grad shape {tuple(x.grad.shape)} != input shape {a.shape}"
            assert x.grad.dtype == x.dtype and x.grad.device == x.device
    if torch is not None:
        _compare_torch(torch_fn or fn, arrays, needs, outs, seeds, xs, grad, atol, rtol)
    if grad and fd and diff and all(a.dtype == np.float64 for a, n in zip(arrays, needs) if n):
        fd_check(fn, arrays, needs, seeds, xs, device, FD_EPS, fd_atol, fd_rtol)
    return result


def _compare_torch(fn, arrays, needs, outs, seeds, xs, grad, atol, rtol):
    ts = [torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    touts = as_tuple(fn(*ts))
    assert len(touts) == len(outs), f"{len(outs)} outputs, torch gives {len(touts)}"
    for i, (o, t) in enumerate(zip(outs, touts)):
        assert tuple(o.shape) == tuple(t.shape), f"output {i}: shape {tuple(o.shape)} vs torch {tuple(t.shape)}"
        assert o.dtype.name == str(t.dtype).replace("torch.", ""), f"output {i}: dtype {o.dtype} vs torch {t.dtype}"
        np.testing.assert_allclose(to_numpy(o), to_numpy(t), atol=atol, rtol=rtol, equal_nan=True,
                                   err_msg=f"forward output {i}")
        assert o.requires_grad == t.requires_grad, f"output {i}: requires_grad {o.requires_grad} vs torch"
    tdiff = [(t, torch.tensor(s, dtype=t.dtype)) for t, s in zip(touts, seeds) if s is not None and t.requires_grad]
    if grad and tdiff:
        torch.autograd.backward([t for t, _ in tdiff], [s for _, s in tdiff])
    for i, (x, t) in enumerate(zip(xs, ts)):
        if not needs[i]:
            continue
        mine = np.zeros(arrays[i].shape) if x.grad is None else to_numpy(x.grad)  # unused input: zero grad
        ref = np.zeros(arrays[i].shape) if t.grad is None else to_numpy(t.grad)
        np.testing.assert_allclose(mine, ref, atol=atol, rtol=rtol, err_msg=f"gradient of input {i} vs torch")


def lib(t):
    """The module a tensor belongs to, so one lambda serves both: lib(x).where(c, x, y)."""
    return gpunet if isinstance(t, gpunet.Tensor) else torch
