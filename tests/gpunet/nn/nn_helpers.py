"""Shared checks for the nn tests.

    compare(lambda F, x, w: F.conv2d(x, w, stride=2), x_array, w_array)

runs the function with F = gpunet.nn.functional on gpunet tensors and with F = torch.nn.functional on
torch tensors (when torch is installed), then compares every output, backpropagates the same random
seed through both and compares every input gradient. Without torch, or in addition (fd=True), the
gradients are checked against float64 central differences of sum(seed * output).
"""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as GF
from tests.gpunet._helpers_common import as_tuple
from tests.gpunet._helpers_common import fd_check as _fd_check
from tests.gpunet._helpers_common import to_numpy as to_np

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the finite-difference checks still run
    torch = TF = None

TOL = {"float64": (1e-10, 1e-8), "float32": (1e-5, 1e-5)}


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def compare(fn, *arrays, dtype="float64", needs=None, device="cpu", atol=None, rtol=None, fd=None, seed=0,
            check_torch=True):
    """Compare fn(gpunet F, ...) with fn(torch F, ...): outputs and all input gradients; returns gpunet's.

    Float arrays are cast to dtype and require grad (unless needs[i] is False); integer/bool arrays are
    passed as they are. fd (default: when dtype is float64 and torch is missing) adds a finite-difference
    check of the gradients.
    """
    d_atol, d_rtol = TOL[dtype]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    needs = [a.dtype.kind == "f" for a in arrays] if needs is None else list(needs)
    xs = [gpunet.tensor(a, device=device, requires_grad=n) for a, n in zip(arrays, needs)]
    outs = as_tuple(fn(GF, *xs))
    rng = np.random.default_rng(seed + 7)
    seeds = [rng.uniform(-1, 1, size=tuple(o.shape)) if o.is_floating_point() else None for o in outs]
    diff = [(o, s) for o, s in zip(outs, seeds) if s is not None and o.requires_grad]
    if diff:
        gpunet.autograd.backward([o for o, _ in diff], [gpunet.tensor(s, dtype=o.dtype, device=device)
                                                          for o, s in diff])
    for x, a in zip(xs, arrays):
        if x.grad is not None:
            assert tuple(x.grad.shape) == a.shape and x.grad.dtype == x.dtype and x.grad.device == x.device
    if torch is not None and check_torch:
        ts = [torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
        touts = as_tuple(fn(TF, *ts))
        assert len(touts) == len(outs)
        for i, (o, t) in enumerate(zip(outs, touts)):
            assert tuple(o.shape) == tuple(t.shape), f"output {i}: {tuple(o.shape)} vs torch {tuple(t.shape)}"
            assert o.dtype.name == str(t.dtype).split(".")[-1], f"output {i}: {o.dtype} vs torch {t.dtype}"
            np.testing.assert_allclose(to_np(o), to_np(t), atol=atol, rtol=rtol, equal_nan=True,
                                       err_msg=f"forward output {i}")
        tdiff = [(t, torch.tensor(s, dtype=t.dtype)) for t, s in zip(touts, seeds) if s is not None
                 and t.requires_grad]
        if tdiff:
            torch.autograd.backward([t for t, _ in tdiff], [s for _, s in tdiff])
        for i, (x, t) in enumerate(zip(xs, ts)):
            if needs[i]:
                mine = np.zeros(arrays[i].shape) if x.grad is None else to_np(x.grad)
                ref = np.zeros(arrays[i].shape) if t.grad is None else to_np(t.grad)
                np.testing.assert_allclose(mine, ref, atol=atol, rtol=rtol, equal_nan=True,
                                           err_msg=f"gradient of input {i} vs torch")
    if fd is None:
        fd = torch is None and dtype == "float64"
    if fd and diff:
        fd_check(fn, arrays, needs, seeds, xs, device)
    return outs if len(outs) > 1 else outs[0]


def fd_check(fn, arrays, needs, seeds, xs, device, eps=1e-6, atol=1e-5, rtol=1e-4):
    """Central differences of sum(seed * fn(GF, x)) against the analytic gradients already in xs[i].grad."""
    _fd_check(lambda *t: fn(GF, *t), arrays, needs, seeds, xs, device, eps, atol, rtol)


def gradcheck(fn, *arrays, device="cpu"):
    """gpunet.autograd.gradcheck of fn(GF, *tensors) over float64 copies of arrays (float ones need grad)."""
    xs = [gpunet.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, device=device,
                        requires_grad=a.dtype.kind == "f") for a in arrays]
    assert gpunet.autograd.gradcheck(lambda *t: fn(GF, *t), xs)


def needs_torch():
    if torch is None:
        pytest.skip("torch is not installed")
    return torch
