"""Pooling benchmarks: kernels.<device> pooling vs PyTorch doing the same work in the same run.

Byte model (GB/s column; each array counted once, at its own dtype size):
- forward: input read + output written (+ int64 indices written, max pooling);
- forward+backward: the forward's bytes + grad_y read (+ indices read, max) + grad_x written.
Zero-filling grad_x before a scatter is not counted: it happens per plane in cache.
PyTorch does the same work: max pooling with return_indices=True; backward through autograd.grad.
"""
import numpy as np

from kernels.bench.common import compare, row, torch

F = torch.nn.functional if torch is not None else None

# (label, shape, kernel, stride, padding)
_MAX_CASES = [
    ("2x2/2", (64, 32, 32, 32), (2, 2), (2, 2), (0, 0)),
    ("3x3/2 pad 1", (32, 64, 32, 32), (3, 3), (2, 2), (1, 1)),
]
_AVG_CASES = [
    ("2x2/2", (64, 32, 32, 32), (2, 2), (2, 2), (0, 0)),
]
_ADAPTIVE_CASES = [
    ("-> 1x1", (32, 512, 4, 4), (1, 1)),
]


def _module(device):
    if device == "cuda":
        import kernels.cuda as K
        return K, K.xp
    import kernels.cpu as K
    return K, np


def _torch_device(device):
    return "cuda" if device == "cuda" else "cpu"


def _torch_ok(device):
    return torch is not None and (device == "cpu" or torch.cuda.is_available())


def _simulated(device):
    if device != "cuda":
        return False
    from kernels.cuda._launch import SIMULATOR
    return SIMULATOR


def _shape(shape, device):
    # the CUDA simulator runs a few kernel threads per ms: one tiny shape, as a smoke test only
    return (2, 3, 8, 8) if _simulated(device) else shape


def _nbytes(shape, itemsize):
    return int(np.prod(shape)) * itemsize


def _torch_pair(device, x, pool):
    """PyTorch's forward and forward+backward of `pool` (tensor -> pooled tensor) on x, or (None, None)."""
    if not _torch_ok(device):
        return None, None
    xt = torch.as_tensor(np.asarray(x) if device == "cpu" else x.get(),
                         device=_torch_device(device)).requires_grad_(True)
    with torch.no_grad():
        gyt = torch.ones_like(pool(xt))

    def fwd():
        with torch.no_grad():
            return pool(xt)

    return fwd, lambda: torch.autograd.grad(pool(xt), xt, gyt)


def _max_cases(K, xp, device):
    for label, shape, k, s, p in _MAX_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y, _ = K.max_pool2d_forward(x, k, s, p, (1, 1), False)
        gy = xp.ones_like(y)

        def fwd(x=x, k=k, s=s, p=p):
            return K.max_pool2d_forward(x, k, s, p, (1, 1), False)

        def fwd_bwd(x=x, k=k, s=s, p=p, gy=gy):
            _, i = K.max_pool2d_forward(x, k, s, p, (1, 1), False)
            return K.max_pool2d_backward(gy, i, x.shape)

        torch_fns = _torch_pair(device, x,
                                lambda t, k=k, s=s, p=p: F.max_pool2d(t, k, s, p, return_indices=True)[0])
        moved = _nbytes(shape, 4) + _nbytes(y.shape, 4) + _nbytes(y.shape, 8)
        yield (f"max_pool2d {label}", shape, fwd, fwd_bwd, torch_fns, moved,
               "x + y + int64 indices", "fwd + grad_y, indices read, grad_x written")


def _avg_cases(K, xp, device):
    for label, shape, k, s, p in _AVG_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y = K.avg_pool2d_forward(x, k, s, p, False, True, None)
        gy = xp.ones_like(y)

        def fwd(x=x, k=k, s=s, p=p):
            return K.avg_pool2d_forward(x, k, s, p, False, True, None)

        def fwd_bwd(x=x, k=k, s=s, p=p, gy=gy):
            K.avg_pool2d_forward(x, k, s, p, False, True, None)
            return K.avg_pool2d_backward(gy, x.shape, k, s, p, False, True, None)

        torch_fns = _torch_pair(device, x, lambda t, k=k, s=s, p=p: F.avg_pool2d(t, k, s, p))
        yield (f"avg_pool2d {label}", shape, fwd, fwd_bwd, torch_fns, _nbytes(shape, 4) + _nbytes(y.shape, 4),
               "x + y", "fwd + grad_y read, grad_x written")


def _adaptive_cases(K, xp, device):
    for label, shape, size in _ADAPTIVE_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y = K.adaptive_avg_pool2d_forward(x, size)
        gy = xp.ones_like(y)

        def fwd(x=x, size=size):
            return K.adaptive_avg_pool2d_forward(x, size)

        def fwd_bwd(x=x, size=size, gy=gy):
            K.adaptive_avg_pool2d_forward(x, size)
            return K.adaptive_avg_pool2d_backward(gy, x.shape)

        torch_fns = _torch_pair(device, x, lambda t, size=size: F.adaptive_avg_pool2d(t, size))
        yield (f"adaptive_avg_pool2d {label}", shape, fwd, fwd_bwd, torch_fns,
               _nbytes(shape, 4) + _nbytes(y.shape, 4), "x + y", "fwd + grad_y read, grad_x written")


def rows(device, quick, roof):
    """Forward and forward+backward rows per case; each timed in interleaved rounds against PyTorch's."""
    K, xp = _module(device)
    repeat = 1 if _simulated(device) else (3 if quick else 7)  # rounds of 3 timed calls each
    rounds = dict(warmup=1, per_round=1) if _simulated(device) else {}
    out = []
    for make in (_max_cases, _avg_cases, _adaptive_cases):
        for name, shape, fwd, fwd_bwd, torch_fns, moved, fwd_note, both_note in make(K, xp, device):
            t_fwd, tt_fwd = compare(fwd, torch_fns[0], device, repeat, **rounds)
            t_both, tt_both = compare(fwd_bwd, torch_fns[1], device, repeat, **rounds)
            # forward+backward moves the forward's bytes again: grad_y (+ indices) read, grad_x written
            out.append(row(name + " fwd", str(shape), t_fwd, moved, "GB/s", roof, tt_fwd, fwd_note))
            out.append(row(name + " fwd+bwd", str(shape), t_both, 2 * moved, "GB/s", roof, tt_both,
                           both_note))
    return out
