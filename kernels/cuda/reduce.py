"""sum and mean on the device: CuPy's reductions."""

__all__ = ["mean", "sum"]


def sum(x, axis=None, keepdims=False, dtype=None):
    """x.sum(axis, keepdims=keepdims, dtype=dtype) with NumPy's result type and shape."""
    return x.sum(axis=axis, keepdims=keepdims, dtype=dtype)


def mean(x, axis=None, keepdims=False):
    """x.mean(axis, keepdims=keepdims) with NumPy's result type and shape."""
    return x.mean(axis=axis, keepdims=keepdims)
