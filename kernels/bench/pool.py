"""Pooling benchmarks: kernels.<device> pooling vs PyTorch doing the same work in the same run.

Byte model (GB/s column; each array counted once, at its own dtype size):
- forward: input read + output written (+ int64 indices written, max pooling);
- forward+backward: the forward's bytes + grad_y read (+ indices read, max) + grad_x written.
Zero-filling grad_x before a scatter is not counted: it happens per plane in cache.
PyTorch does the same work: max pooling with return_indices=True; backward through autograd.grad.
"""
import numpy as np

from kernels.bench.common import median_time, row, torch

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


def _max_rows(K, xp, device, timer, roof):
    out = []
    for label, shape, k, s, p in _MAX_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y, ind = K.max_pool2d_forward(x, k, s, p, (1, 1), False)
        gy = xp.ones_like(y)
        xb, yb, ib = _nbytes(shape, 4), _nbytes(y.shape, 4), _nbytes(y.shape, 8)

        def fwd():
            return K.max_pool2d_forward(x, k, s, p, (1, 1), False)

        def fwd_bwd():
            _, i = K.max_pool2d_forward(x, k, s, p, (1, 1), False)
            return K.max_pool2d_backward(gy, i, x.shape)

        t_fwd, t_both = timer(fwd), timer(fwd_bwd)
        tt_fwd = tt_both = None
        if _torch_ok(device):
            F = torch.nn.functional
            xt = torch.as_tensor(np.asarray(x) if device == "cpu" else x.get(),
                                 device=_torch_device(device)).requires_grad_(True)
            gyt = torch.ones(y.shape, device=xt.device)
            with torch.no_grad():
                tt_fwd = timer(lambda: F.max_pool2d(xt, k, s, p, return_indices=True), "torch-" + device)

            def torch_both():
                yt, _ = F.max_pool2d(xt, k, s, p, return_indices=True)
                return torch.autograd.grad(yt, xt, gyt)

            tt_both = timer(torch_both, "torch-" + device)
        name = f"max_pool2d {label}"
        out.append(row(name + " fwd", str(shape), t_fwd, xb + yb + ib, "GB/s", roof, tt_fwd,
                       "x + y + int64 indices"))
        out.append(row(name + " fwd+bwd", str(shape), t_both, 2 * (xb + yb + ib), "GB/s", roof, tt_both,
                       "fwd + grad_y, indices read, grad_x written"))
    return out


def _avg_rows(K, xp, device, timer, roof):
    out = []
    for label, shape, k, s, p in _AVG_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y = K.avg_pool2d_forward(x, k, s, p, False, True, None)
        gy = xp.ones_like(y)
        xb, yb = _nbytes(shape, 4), _nbytes(y.shape, 4)

        def fwd():
            return K.avg_pool2d_forward(x, k, s, p, False, True, None)

        def fwd_bwd():
            K.avg_pool2d_forward(x, k, s, p, False, True, None)
            return K.avg_pool2d_backward(gy, x.shape, k, s, p, False, True, None)

        t_fwd, t_both = timer(fwd), timer(fwd_bwd)
        tt_fwd = tt_both = None
        if _torch_ok(device):
            F = torch.nn.functional
            xt = torch.as_tensor(np.asarray(x) if device == "cpu" else x.get(),
                                 device=_torch_device(device)).requires_grad_(True)
            gyt = torch.ones(y.shape, device=xt.device)
            with torch.no_grad():
                tt_fwd = timer(lambda: F.avg_pool2d(xt, k, s, p), "torch-" + device)
            tt_both = timer(lambda: torch.autograd.grad(F.avg_pool2d(xt, k, s, p), xt, gyt), "torch-" + device)
        name = f"avg_pool2d {label}"
        out.append(row(name + " fwd", str(shape), t_fwd, xb + yb, "GB/s", roof, tt_fwd, "x + y"))
        out.append(row(name + " fwd+bwd", str(shape), t_both, 2 * (xb + yb), "GB/s", roof, tt_both,
                       "fwd + grad_y read, grad_x written"))
    return out


def _adaptive_rows(K, xp, device, timer, roof):
    out = []
    for label, shape, size in _ADAPTIVE_CASES:
        shape = _shape(shape, device)
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        y = K.adaptive_avg_pool2d_forward(x, size)
        gy = xp.ones_like(y)
        xb, yb = _nbytes(shape, 4), _nbytes(y.shape, 4)

        def fwd_bwd():
            K.adaptive_avg_pool2d_forward(x, size)
            return K.adaptive_avg_pool2d_backward(gy, x.shape)

        t_fwd = timer(lambda: K.adaptive_avg_pool2d_forward(x, size))
        t_both = timer(fwd_bwd)
        tt_fwd = tt_both = None
        if _torch_ok(device):
            F = torch.nn.functional
            xt = torch.as_tensor(np.asarray(x) if device == "cpu" else x.get(),
                                 device=_torch_device(device)).requires_grad_(True)
            gyt = torch.ones(y.shape, device=xt.device)
            with torch.no_grad():
                tt_fwd = timer(lambda: F.adaptive_avg_pool2d(xt, size), "torch-" + device)
            tt_both = timer(lambda: torch.autograd.grad(F.adaptive_avg_pool2d(xt, size), xt, gyt),
                            "torch-" + device)
        name = f"adaptive_avg_pool2d {label}"
        out.append(row(name + " fwd", str(shape), t_fwd, xb + yb, "GB/s", roof, tt_fwd, "x + y"))
        out.append(row(name + " fwd+bwd", str(shape), t_both, 2 * (xb + yb), "GB/s", roof, tt_both,
                       "fwd + grad_y read, grad_x written"))
    return out


def rows(device, quick, roof):
    K, xp = _module(device)
    repeat = 5 if quick else 21
    if _simulated(device):
        repeat = 1

    def timer(fn, dev=device):
        return median_time(fn, dev, repeat=repeat, warmup=2)

    return _max_rows(K, xp, device, timer, roof) + _avg_rows(K, xp, device, timer, roof) + \
        _adaptive_rows(K, xp, device, timer, roof)
