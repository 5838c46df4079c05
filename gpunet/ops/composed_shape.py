"""Shape functions written with other ops (no Op of their own): meshgrid, diff, atleast_1d/2d/3d."""
from gpunet.ops.shape import cat, expand
from gpunet.tensor import Tensor


def meshgrid(*tensors, indexing=None):
    """Coordinate grids of 0-d or 1-d tensors: each expanded over the others' lengths ('ij', the default, as
    PyTorch's; 'xy' swaps the first two output dims). The outputs are views sharing their inputs' memory."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in (None, "ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(f"meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.dim()}D")
    shape = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
        order[0], order[1] = 1, 0
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(i)] = -1
        grids.append(expand(t.reshape(view), shape))
    return tuple(grids)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along dim, after joining prepend and append to input along it."""
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat(parts, dim) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[dim]
        if length <= 1:
            return x.narrow(dim, 0, 0)
        if x._data.dtype.kind == "b":
            x = x.narrow(dim, 1, length - 1) ^ x.narrow(dim, 0, length - 1)
        else:
            x = x.narrow(dim, 1, length - 1) - x.narrow(dim, 0, length - 1)
    return x


def _at_least(ndim):
    def fn(*tensors):
        single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        out = []
        for t in tensors:
            d = t._data.ndim
            shape = {0: (1,) * ndim, 1: ((1, -1) if ndim == 2 else (1, -1, 1))}.get(d)
            out.append(t.reshape(shape) if d < ndim and shape is not None
                       else t.unsqueeze(-1) if d < ndim else t)
        return out[0] if single else tuple(out)
    fn.__name__ = f"atleast_{ndim}d"
    return fn


atleast_1d, atleast_2d, atleast_3d = _at_least(1), _at_least(2), _at_least(3)
