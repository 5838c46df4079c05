"""batch_norm, instance_norm, layer_norm, group_norm (one shared Op), normalize and vector distances.

All four norms are "standardise x over some axes of a reshaped view, then scale and shift per
parameter element"; the Op below does that with the textbook backward
    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * weight.
Running statistics (batch_norm, instance_norm) are updated in place inside the forward, from the
batch statistics it computes anyway, with the unbiased variance, as PyTorch does.
"""
import math

from gpunet.autograd.function import Op
from gpunet.nn.functional._common import check_float, check_same_device, check_tensor
from gpunet.nn.functional._padding import pad
from gpunet.nn.functional.pooling import avg_pool2d
from gpunet.ops._util import unbroadcast
from gpunet.ops.elementwise import clamp_min
from gpunet.tensor import _dim

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "normalize", "cosine_similarity",
           "pairwise_distance", "local_response_norm"]


class Normalize(Op):
    """y = (x - mean) * invstd * weight + bias, statistics over `axes` of x viewed as `view_shape`.

    fixed: None (batch statistics, differentiated through) or (mean, var) arrays used as constants.
    running: None or (running_mean, running_var, momentum) arrays updated in place from the batch stats.
    """
    _backward_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, view_shape, axes, param_shape, eps, fixed, running):
        xp = ctx.device.xp
        xv = x.reshape(view_shape)
        if fixed is None:
            mean = xv.mean(axis=axes, keepdims=True)
            xhat = xv - mean
            var = (xhat * xhat).mean(axis=axes, keepdims=True)
            if running is not None:
                _update_running(xp, running, mean, var, xv.size // max(mean.size, 1))
        else:
            mean, var = fixed
            xhat = xv - mean
        invstd = 1 / xp.sqrt(var + eps)
        xhat *= invstd
        if w is not None:
            y = xhat * w.reshape(param_shape)
            if b is not None:
                y += b.reshape(param_shape)
        else:
            y = xhat + b.reshape(param_shape) if b is not None else xhat.copy()  # never alias the saved xhat
        ctx.save_for_backward(xhat, invstd, w)
        ctx.consts = (x.shape, axes, param_shape, None if b is None else b.shape, fixed is None)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xhat, invstd, w = ctx.saved_tensors
        x_shape, axes, param_shape, b_shape, batch_stats = ctx.consts
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = g.reshape(xhat.shape)
        gx = gw = gb = None
        if nw:
            gw = unbroadcast(g * xhat, param_shape).reshape(w.shape)
        if nb:
            gb = unbroadcast(g, param_shape).reshape(b_shape)
        if nx:
            gh = g * w.reshape(param_shape) if w is not None else g
            if batch_stats:
                gx = gh - gh.mean(axis=axes, keepdims=True)
                gx -= xhat * (gh * xhat).mean(axis=axes, keepdims=True)
                gx *= invstd
            else:
                gx = gh * invstd
            gx = gx.reshape(x_shape)
        return gx, gw, gb, None, None, None, None, None, None


def _update_running(xp, running, mean, var, count):
    """running <- (1 - momentum) * running + momentum * batch stat (unbiased var), averaged over instances."""
    rm, rv, momentum = running
    if rm is not None:
        c = rm.size
        rm *= 1 - momentum
        rm += (momentum * mean.reshape(-1, c).mean(axis=0)).astype(rm.dtype, copy=False)
    if rv is not None:
        unbiased = var.reshape(-1, rv.size).mean(axis=0) * (count / max(count - 1, 1))
        rv *= 1 - momentum
        rv += (momentum * unbiased).astype(rv.dtype, copy=False)


def _check_param(op, t, name, channels, input):
    if t is None:
        return
    check_tensor(t, name, op)
    if t._data.size != channels:
        raise RuntimeError(f"{op}: {name} should contain {channels} elements not {t._data.size} "
                           f"({name} has shape {list(t._data.shape)})")
    _check_dtype(op, t, name, input)


def _check_dtype(op, t, name, input):
    if t._data.dtype != input._data.dtype:
        raise RuntimeError(f"{op}: expected {name} to have the input's dtype {input.dtype}, got {t.dtype} "
                           "(convert the module or the input, e.g. module.double() or input.float())")


def _bump(*tensors):
    for t in tensors:
        if t is not None:
            t._vc[0] += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims.

    training: batch statistics, and running_mean/var (if given) are updated in place with momentum
    (unbiased variance); otherwise the running statistics are used.
    """
    check_float(input, "batch_norm")
    nd = input._data.ndim
    if nd < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {nd}D input of shape "
                         f"{list(input._data.shape)})")
    n, c = input._data.shape[:2]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_param("batch_norm", t, name, c, input)
    check_same_device("batch_norm", input, weight, bias, running_mean, running_var)
    view, param = (n, c, -1), (1, c, 1)
    if training:
        if input._data.size // max(c, 1) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"gpunet.Size({list(input._data.shape)})")
        running = None
        if running_mean is not None or running_var is not None:
            if momentum is None:
                raise ValueError("batch_norm: momentum=None is only meaningful in BatchNorm modules "
                                 "(cumulative average); pass a float")
            running = (None if running_mean is None else running_mean._data,
                       None if running_var is None else running_var._data, float(momentum))
        out = Normalize.apply(input, weight, bias, view, (0, 2), param, eps, None, running)
        _bump(running_mean, running_var)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode "
                           "(training=False)")
    fixed = (running_mean._data.reshape(param).astype(input._data.dtype, copy=False),
             running_var._data.reshape(param).astype(input._data.dtype, copy=False))
    return Normalize.apply(input, weight, bias, view, (0, 2), param, eps, fixed, None)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane over its spatial dims."""
    check_float(input, "instance_norm")
    nd = input._data.ndim
    if nd < 3:
        raise ValueError("instance_norm: expected at least 3D input (N, C, *), got shape "
                         f"{list(input._data.shape)}")
    n, c = input._data.shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _check_param("instance_norm", t, name, c, input)
    check_same_device("instance_norm", input, weight, bias, running_mean, running_var)
    view, param = (n, c, -1), (1, c, 1)
    if use_input_stats:
        if input._data.size // max(n * c, 1) == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                             f"gpunet.Size({list(input._data.shape)})")
        running = None
        if running_mean is not None or running_var is not None:
            running = (None if running_mean is None else running_mean._data,
                       None if running_var is None else running_var._data, float(momentum))
        out = Normalize.apply(input, weight, bias, view, (2,), param, eps, None, running)
        _bump(running_mean, running_var)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("instance_norm: Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    fixed = (running_mean._data.reshape(param).astype(input._data.dtype, copy=False),
             running_var._data.reshape(param).astype(input._data.dtype, copy=False))
    return Normalize.apply(input, weight, bias, view, (2,), param, eps, fixed, None)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing dims given by normalized_shape, then scale by weight, shift by bias."""
    check_float(input, "layer_norm")
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    shape = input._data.shape
    if k == 0 or shape[len(shape) - k:] != normalized_shape or len(shape) < k:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, normalized_shape))}], but got input of size{list(shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            check_tensor(t, name, "layer_norm")
            if t._data.shape != normalized_shape:
                raise RuntimeError(f"layer_norm: Expected {name} to be of same shape as normalized_shape, "
                                   f"but got {name} of shape {list(t._data.shape)} and normalized_shape = "
                                   f"{list(normalized_shape)}")
            _check_dtype("layer_norm", t, name, input)
    check_same_device("layer_norm", input, weight, bias)
    m = math.prod(normalized_shape)
    return Normalize.apply(input, weight, bias, (-1, m), (1,), (1, m), eps, None, None)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of num_groups channel groups over (its channels x spatial dims) per sample."""
    check_float(input, "group_norm")
    if input._data.ndim < 2:
        raise RuntimeError(f"group_norm: Expected at least 2 dimensions for input tensor but received "
                           f"{input._data.ndim}")
    n, c = input._data.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got "
                           f"input of shape {list(input._data.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_param("group_norm", t, name, c, input)
    check_same_device("group_norm", input, weight, bias)
    g = num_groups
    view, param = (n, g, c // g, -1), (1, g, c // g, 1)
    return Normalize.apply(input, weight, bias, view, (2, 3), param, eps, None, None)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha/n * sum of squares over `size` neighbouring channels)^beta."""
    check_float(input, "local_response_norm")
    nd = input._data.ndim
    if nd < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {nd} dimensions)")
    if input.numel() == 0:
        return input
    sq = (input * input).unsqueeze(1)
    n, c = input._data.shape[:2]
    if nd == 3:
        div = avg_pool2d(pad(sq, (0, 0, size // 2, (size - 1) // 2)), (size, 1), stride=1).squeeze(1)
    else:
        rest = input._data.shape[2:]
        sq = sq.reshape(n, 1, c, rest[0], -1)
        sq = pad(sq, (0, 0, 0, 0, size // 2, (size - 1) // 2))
        # average over `size` channels: sum the shifted channel slices (a 1-D window along dim 2)
        acc = sq.narrow(2, 0, c)
        for i in range(1, size):
            acc = acc + sq.narrow(2, i, c)
        div = (acc / size).reshape(n, c, *rest)
    div = (div * alpha + k) ** beta
    return input / div


# ---- norms and distances -----------------------------------------------------------------------------------
class VectorNorm(Op):
    """||x||_p along dim (keepdim); the gradient at a zero vector is zero, as PyTorch's."""
    _backward_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        xp = ctx.device.xp
        a = abs(x)
        if p == 2:
            n = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        elif p == 1:
            n = a.sum(axis=dim, keepdims=True)
        elif p == math.inf:
            n = a.max(axis=dim, keepdims=True)
        else:
            n = (a ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, n)
        ctx.consts = (p, dim, keepdim)
        return n if keepdim else n.squeeze(dim)

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved_tensors
        p, dim, keepdim = ctx.consts
        xp = ctx.device.xp
        if not keepdim:
            g = xp.expand_dims(g, dim)
        safe = xp.where(n == 0, 1, n)
        if p == 2:
            d = x / safe
        elif p == 1:
            d = xp.sign(x)
        elif p == math.inf:
            hit = abs(x) == n
            d = xp.sign(x) * hit / hit.sum(axis=dim, keepdims=True)
        else:
            d = xp.sign(x) * abs(x) ** (p - 1) / safe ** (p - 1)
        return xp.where(n == 0, 0, g * d).astype(x.dtype, copy=False), None, None, None


def _vector_norm(x, p, dim, keepdim):
    if p <= 0 and p != math.inf:
        raise ValueError(f"norm: p must be positive (or inf), got {p}")
    return VectorNorm.apply(x, float(p), _dim(dim, x._data.ndim, "norm"), keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    check_float(input, "normalize")
    if out is not None:
        raise NotImplementedError("normalize(): the out= argument is not supported by gpunet")
    denom = clamp_min(_vector_norm(input, p, dim, True), eps)
    return input / denom


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim, with broadcasting."""
    check_float(x1, "cosine_similarity", "x1")
    check_float(x2, "cosine_similarity", "x2")
    x1, x2 = x1.broadcast_to(_broadcast_shape(x1, x2)), x2.broadcast_to(_broadcast_shape(x1, x2))
    n1 = _clamped_value(_vector_norm(x1, 2, dim, True), eps)
    n2 = _clamped_value(_vector_norm(x2, 2, dim, True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamped_value(n, eps):
    """n with values raised to eps but the gradient of n itself (PyTorch clamps the norms without grad)."""
    return n + (clamp_min(n.detach(), eps) - n.detach())


def _broadcast_shape(a, b):
    import numpy as np
    try:
        return np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(a._data.shape)}) must match the size of tensor b "
                           f"({list(b._data.shape)}) at non-singleton dimension") from None


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    check_float(x1, "pairwise_distance", "x1")
    check_float(x2, "pairwise_distance", "x2")
    diff = x1 - x2 + eps
    if diff._data.ndim == 0:
        return diff.abs()
    return _vector_norm(diff, p, -1, keepdim)
