"""batch_norm, instance_norm, layer_norm, group_norm, normalize and vector distances (nn.functional).

The four norms share one Op, gpunet.ops.normalization.Normalize (statistics, scale and shift, and
the running-statistics update); normalize and the distances use gpunet.ops.vector_norm.VectorNorm.
The arguments are checked here with PyTorch's messages.
"""
import math

import numpy as np

from gpunet.amp import _policy as _amp
from gpunet.nn.functional._common import check_float, check_same_device, check_tensor, size_str
from gpunet.nn.functional._padding import pad
from gpunet.nn.functional.pooling import avg_pool2d
from gpunet.ops.elementwise import clamp_min
from gpunet.ops.normalization import Normalize
from gpunet.ops.vector_norm import VectorNorm
from gpunet.tensor import _dim

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "normalize", "cosine_similarity",
           "pairwise_distance", "local_response_norm"]


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
            raise ValueError("Expected more than 1 value per channel when training, got input size "
                             + size_str(input._data.shape))
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
            raise ValueError("Expected more than 1 spatial element when training, got input size "
                             + size_str(input._data.shape))
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
    if _amp.state.on:  # autocast
        input, weight, bias = _amp.cast("layer_norm", input, weight, bias)
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
    if _amp.state.on:  # autocast
        input, weight, bias = _amp.cast("group_norm", input, weight, bias)
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
