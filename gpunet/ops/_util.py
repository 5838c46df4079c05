"""Helpers shared by ops: un-broadcasting gradients, operand promotion, dims."""
from gpunet import dtypes as _dt
from gpunet._from_data import tensor as _tensor
from gpunet.tensor import Tensor


def unbroadcast(grad, shape):
    """Sum a broadcast gradient back to `shape` (drop leading dims, sum dims that were 1); shape None:
    no broadcasting took place (the gradient as it is)."""
    if shape is None or grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def unbroadcast_tensor(grad, shape):
    """unbroadcast for a gradient Tensor (the create_graph walk): differentiable sums and a reshape."""
    if shape is None:
        return grad
    gshape, shape = grad._data.shape, tuple(shape)
    if gshape == shape:
        return grad
    extra = len(gshape) - len(shape)
    if extra:
        grad = grad.sum(dim=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad._data.shape[i] != 1)
    if axes:
        grad = grad.sum(dim=axes, keepdim=True)
    return grad.reshape(shape)


def promote(a, b, op):
    """Bring two operands (Tensor or Python scalar) to PyTorch's result dtype; returns (a, b)."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        if a._data.dtype == b._data.dtype:
            return a, b
    elif not (a_t or b_t):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    else:
        s = b if a_t else a
        if not isinstance(s, (int, float, bool)) or hasattr(s, "dtype"):  # np.float64 subclasses float
            if hasattr(s, "dtype") and hasattr(s, "shape") and getattr(s, "ndim", 1) == 0:
                s = s.item()  # numpy scalar: treat as a Python number (weak, as PyTorch does)
            elif hasattr(s, "__len__") or hasattr(s, "__array__"):
                t = a if a_t else b
                s = _tensor(s, device=t._device)
            else:
                raise TypeError(f"{op}: unsupported operand type {type(s).__name__}")
            a, b = (a, s) if a_t else (s, b)
            return promote(a, b, op)
    target = _dt.result_type(a, b)
    if a_t and a._data.dtype != target.np:
        a = a.to(target)
    if b_t and b._data.dtype != target.np:
        b = b.to(target)
    return a, b


def norm_dims(dim, ndim, op):
    """dim (None, int or sequence) -> tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    if isinstance(dim, int):
        dim = (dim,)
    n = max(ndim, 1)
    out = []
    for d in dim:
        if not -n <= d < n:
            raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                             f"but got {d})")
        out.append(d % n)
    return tuple(out)


def expand_reduced(grad, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input shape."""
    if axes is None:
        return grad.reshape((1,) * len(shape)) if len(shape) else grad
    if not keepdim:
        new_shape = list(shape)
        for ax in axes:
            new_shape[ax] = 1
        grad = grad.reshape(new_shape)
    return grad


def _view_of(out, base):
    """Views share their base's version counter, so an in-place change through either is seen."""
    out._vc = base._vc
    return out
