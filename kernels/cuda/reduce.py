"""sum, mean and cumsum on the device: CuPy's reductions and scan."""

from kernels.cuda._launch import xp

__all__ = ["cumsum", "mean", "sum"]


def sum(x, axis=None, keepdims=False, dtype=None):
    """x.sum(axis, keepdims=keepdims, dtype=dtype) with NumPy's result type and shape."""
    return x.sum(axis=axis, keepdims=keepdims, dtype=dtype)


def mean(x, axis=None, keepdims=False):
    """x.mean(axis, keepdims=keepdims) with NumPy's result type and shape."""
    return x.mean(axis=axis, keepdims=keepdims)


def cumsum(x, axis, reverse=False):
    """The cumulative sum of x along axis (reverse: from the end); NumPy's result dtype."""
    if reverse:
        return xp.flip(xp.cumsum(xp.flip(x, axis=axis), axis=axis), axis=axis)
    return xp.cumsum(x, axis=axis)
