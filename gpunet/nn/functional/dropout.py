"""Dropout: inverted scaling (kept elements are multiplied by 1 / (1 - p)) with the mask saved for backward.

The mask is drawn from the input device's generator (gpunet.manual_seed seeds it). Feature (channel)
dropout draws one value per (n, c) and broadcasts it over the spatial dims.
"""
import warnings

from gpunet.nn.functional._common import check_float, inplace_apply
from gpunet.ops.dropout import MaskedScale
from gpunet.random import rng_for

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

_SELU_NEG = 1.7580993408473766  # SELU's negative saturation value, -scale * alpha


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input, p, shape):
    """A float mask of `shape` (1 where kept), drawn on the input's device."""
    rng = rng_for(input._device)
    xp = input._device.xp
    return (rng.random(shape, dtype=xp.float32) >= p).astype(input._data.dtype)


def _apply(input, mult, add, inplace, name):
    if inplace:
        return inplace_apply(lambda t: MaskedScale.apply(t, mult, add), input, name)
    return MaskedScale.apply(input, mult, add)


def _dropout(input, p, training, inplace, shape, name):
    _check_p(p)
    check_float(input, name)
    if not training or p == 0:
        return input
    dtype = input._data.dtype.type
    if p == 1:
        mult = input._device.xp.zeros(shape, dtype=input._data.dtype)
    else:
        mult = _keep_mask(input, p, shape)
        mult *= dtype(1.0 / (1.0 - p))
    return _apply(input, mult, None, inplace, name + ("_" if inplace else ""))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training only)."""
    check_float(input, "dropout")
    return _dropout(input, p, training, inplace, input._data.shape, "dropout")


def _feature_shape(input, name, batched_ndim):
    """(N, C, 1, ..., 1) for a batched input, (C, 1, ..., 1) for an unbatched one."""
    check_float(input, name)
    shape = input._data.shape
    lead = 2 if input._data.ndim == batched_ndim else 1
    return shape[:lead] + (1,) * (len(shape) - lead)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    check_float(input, "dropout1d")
    if input._data.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input._data.ndim}D input. "
                           "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
                           "spatial dimension, a channel dimension, and an optional batch dimension (i.e. "
                           "2D or 3D inputs).")
    return _dropout(input, p, training, inplace, _feature_shape(input, "dropout1d", 3), "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) or (C, H, W) inputs (a 3-D input is treated as (N, C, L))."""
    check_float(input, "dropout2d")
    nd = input._data.ndim
    if nd not in (3, 4):
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this "
                      "warning, please use dropout instead. Note that dropout2d exists to provide "
                      "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
                      "an optional batch dimension (i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
                      "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
                      "the channel dim. This behavior will change in a future release to interpret the "
                      "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
                      "channel-wise dropout behavior, please switch to using dropout1d "
                      "instead.", UserWarning, stacklevel=2)
    shape = input._data.shape[:2] + (1,) * (nd - 2) if nd >= 2 else input._data.shape
    return _dropout(input, p, training, inplace, shape, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    check_float(input, "dropout3d")
    if input._data.ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input._data.ndim}-D input to dropout3d, which is deprecated "
                      "and will result in an error in a future release. To retain the behavior and silence "
                      "this warning, please use dropout instead. Note that dropout3d exists to provide "
                      "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and "
                      "an optional batch dimension (i.e. 4D or 5D inputs).", UserWarning, stacklevel=2)
    return _dropout(input, p, training, inplace, _feature_shape(input, "dropout3d", 5), "dropout3d")


def _alpha(input, p, training, inplace, shape, name):
    """Alpha dropout keeps SELU's mean and variance: dropped values go to SELU's saturation value."""
    _check_p(p)
    check_float(input, name)
    if not training or p == 0:
        return input
    if p == 1:
        return _apply(input, input._device.xp.zeros((), dtype=input._data.dtype), None, inplace, name)
    keep = _keep_mask(input, p, shape)
    dtype = input._data.dtype.type
    a = 1.0 / ((_SELU_NEG ** 2 * p + 1) * (1 - p)) ** 0.5
    add = (keep - 1) * dtype(_SELU_NEG * a) + dtype(_SELU_NEG * a * p)
    keep *= dtype(a)
    return _apply(input, keep, add, inplace, name)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    check_float(input, "alpha_dropout")
    return _alpha(input, p, training, inplace, input._data.shape, "alpha_dropout")


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    check_float(input, "feature_alpha_dropout")
    shape = input._data.shape[:2] + (1,) * (input._data.ndim - 2)
    return _alpha(input, p, training, inplace, shape, "feature_alpha_dropout")
