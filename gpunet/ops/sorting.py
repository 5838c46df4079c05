"""Sorting: argsort, sort, topk. Indices come from a stable sort on the device; values are a gather, so
gradients flow back to the selected elements through gather's backward."""
from gpunet.ops.indexing import gather
from gpunet.tensor import Tensor, _dim, _make
from gpunet.utils.named import return_types


def _order(input, dim, descending, op):
    """Stable sort order along dim (ties keep their original order; NaN sorts as the largest value)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    xp, a = input._device.xp, input._data
    if a.ndim == 0:
        return 0, xp.zeros((), dtype=xp.int64)
    d = _dim(dim, a.ndim, op)
    if not descending:
        return d, xp.argsort(a, axis=d, kind="stable").astype(xp.int64, copy=False)
    # descending and stable: sort the reversed array ascending, reverse the order, map indices back
    rev = xp.flip(xp.argsort(xp.flip(a, axis=d), axis=d, kind="stable"), axis=d)
    return d, (a.shape[d] - 1 - rev).astype(xp.int64, copy=False)


def argsort(input, dim=-1, descending=False, *, stable=False):
    """Indices that sort input along dim (always a stable order here, which `stable=False` permits)."""
    return _make(_order(input, dim, descending, "argsort")[1], input._device)


def sort(input, dim=-1, descending=False, *, stable=False):
    """(values, indices) sorted along dim; values are differentiable."""
    d, order = _order(input, dim, descending, "sort")
    indices = _make(order, input._device)
    values = gather(input, d, indices) if input._data.ndim else input.clone()
    return return_types("sort", values, indices)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) elements along dim as (values, indices), in sorted order."""
    d, order = _order(input, dim, largest, "topk")
    n = input._data.shape[d] if input._data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k out of range (k={k}, dimension {d} has size {n})")
    if input._data.ndim == 0:
        return return_types("topk", input.clone(), _make(order, input._device))
    idx = [slice(None)] * order.ndim
    idx[d] = slice(0, k)
    indices = _make(order[tuple(idx)], input._device)
    return return_types("topk", gather(input, d, indices), indices)
