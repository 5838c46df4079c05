"""softmax, log_softmax and cross-entropy kernels vs PyTorch doing the same work in the same run.

Shapes are (rows, classes), the class axis last: a word-level language model's output (700 x 9,408),
ImageNet logits (64 x 1,000), attention-like rows (4,096 x 512), a 32,000-token vocabulary (32 x 32,000);
and segmentation logits (16, 21, 64, 64), the class axis 1 (the kernels' middle-axis path).
Byte model (GB/s column, float32): forward reads x and writes y (cross entropy: reads x, writes M floats);
forward+backward adds grad_y and y read, grad_x written (cross entropy: x read, grad_x written).
PyTorch does the same work: torch.softmax / log_softmax under no_grad; forward+backward through
autograd.grad; cross entropy as F.cross_entropy(x, target, reduction="none") and its grad for a given
per-row gradient.
"""
import numpy as np

from kernels.bench.common import compare, row, torch

SHAPES = [(700, 9408), (64, 1000), (4096, 512), (32, 32000), (16, 21, 64, 64)]


def _class_axis(shape):
    return -1 if len(shape) == 2 else 1


def _module(device):
    if device == "cuda":
        import kernels.cuda as K
        from kernels.cuda._launch import SIMULATOR
        return K, K.xp, SIMULATOR
    import kernels.cpu as K
    return K, np, False


def _torch_ok(device):
    return torch is not None and (device == "cpu" or torch.cuda.is_available())


def _torch_tensor(a, device, grad=False):
    host = a.get() if hasattr(a, "get") else np.asarray(a)
    return torch.as_tensor(host, device="cuda" if device == "cuda" else "cpu").requires_grad_(grad)


def _softmax_case(K, xp, device, shape, log, x, g):
    name = "log_softmax" if log else "softmax"
    fwd_k, bwd_k = getattr(K, name + "_forward"), getattr(K, name + "_backward")
    axis = _class_axis(shape)

    def fwd():
        return fwd_k(x, axis)

    def fwd_bwd():
        return bwd_k(g, fwd_k(x, axis), axis)

    torch_fns = (None, None)
    if _torch_ok(device):
        fn = torch.log_softmax if log else torch.softmax
        xt, xg, gt = _torch_tensor(x, device), _torch_tensor(x, device, True), _torch_tensor(g, device)

        def t_fwd():
            with torch.no_grad():
                return fn(xt, axis)
        torch_fns = (t_fwd, lambda: torch.autograd.grad(fn(xg, axis), xg, gt))
    nbytes = x.size * x.itemsize
    return name, fwd, fwd_bwd, torch_fns, 2 * nbytes, 5 * nbytes


def _cross_entropy_case(K, xp, device, shape, x, target, gl):
    # the kernels take (N, C, d1 * d2 ...) and targets (N, d1 * d2 ...); PyTorch the unflattened arrays
    xk, tk, glk = (x, target, gl) if x.ndim == 2 else (x.reshape(shape[0], shape[1], -1),
                                                       target.reshape(shape[0], -1), gl.reshape(shape[0], -1))

    def fwd():
        return K.cross_entropy_forward(xk, tk, None, -100, 0.0)

    def fwd_bwd():
        _, stats = K.cross_entropy_forward(xk, tk, None, -100, 0.0)
        return K.cross_entropy_backward(glk, xk, tk, stats, None, -100, 0.0)

    torch_fns = (None, None)
    if _torch_ok(device):
        F = torch.nn.functional
        xt, xg = _torch_tensor(x, device), _torch_tensor(x, device, True)
        tt, glt = _torch_tensor(target, device), _torch_tensor(gl, device)

        def t_fwd():
            with torch.no_grad():
                return F.cross_entropy(xt, tt, reduction="none")
        torch_fns = (t_fwd, lambda: torch.autograd.grad(F.cross_entropy(xg, tt, reduction="none"), xg, glt))
    nbytes = x.size * x.itemsize
    return "cross_entropy", fwd, fwd_bwd, torch_fns, nbytes, 3 * nbytes


def rows(device, quick, roof):
    """Forward and forward+backward rows per shape and op, each timed in interleaved rounds with PyTorch's."""
    K, xp, simulated = _module(device)
    shapes = [(2, 20), (2, 3, 2, 2)] if simulated else SHAPES  # the simulator: a few kernel threads per ms
    repeat = 1 if simulated else (3 if quick else 7)
    rounds = dict(warmup=1, per_round=1) if simulated else {}
    out = []
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = xp.asarray((rng.standard_normal(shape) * 3).astype(np.float32))
        g = xp.asarray(rng.standard_normal(shape).astype(np.float32))
        per_position = shape[:1] + shape[2:]
        target = xp.asarray(rng.integers(0, shape[1], per_position))
        gl = xp.asarray(rng.standard_normal(per_position).astype(np.float32))
        cases = [_softmax_case(K, xp, device, shape, log, x, g) for log in (False, True)]
        cases.append(_cross_entropy_case(K, xp, device, shape, x, target, gl))
        axis = "last axis" if len(shape) == 2 else "axis 1"
        for name, fwd, fwd_bwd, torch_fns, fwd_bytes, both_bytes in cases:
            t_fwd, tt_fwd = compare(fwd, torch_fns[0], device, repeat, **rounds)
            t_both, tt_both = compare(fwd_bwd, torch_fns[1], device, repeat, **rounds)
            out.append(row(name + " fwd", str(shape), t_fwd, fwd_bytes, "GB/s", roof, tt_fwd, axis))
            out.append(row(name + " fwd+bwd", str(shape), t_both, both_bytes, "GB/s", roof, tt_both, axis))
    return out
