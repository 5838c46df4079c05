"""topk's selection along the rows of a 2-D array on the device, with CuPy's array functions: the k-th
value t by partition, every element before it in the stable order, the first of t's ties by index to make
up k, then those k sorted (kernels/cpu/topk.py keeps a heap per row instead; the same order)."""
from kernels.cuda._launch import xp

__all__ = ["topk_indices"]


def topk_indices(a, k, largest):
    """(R, k) int64: for each row of the 2-D array a, the indices of its k first elements in the stable
    order (by value, descending for largest with NaN first, ascending otherwise with NaN last; ties by
    index), in that order. 0 < k <= a.shape[1]."""
    n = a.shape[1]
    at = n - k if largest else k - 1  # t's place in ascending order (NaN last, as the largest)
    t = xp.partition(a, at, axis=1)[:, at:at + 1]
    ahead = a > t if largest else a < t
    tie = a == t
    if a.dtype.kind in "fc":
        nan, t_nan = xp.isnan(a), xp.isnan(t)
        ahead |= (nan & ~t_nan) if largest else (~nan & t_nan)
        tie |= nan & t_nan
    take = ahead | (tie & (xp.cumsum(tie, axis=1) <= k - ahead.sum(axis=1, keepdims=True)))
    cols = xp.nonzero(take)[1].reshape(a.shape[0], k)  # ascending in each row
    vals = xp.take_along_axis(a, cols, axis=1)
    if largest:  # descending and stable: sort the reversed values, reverse back
        order = k - 1 - xp.flip(xp.argsort(xp.flip(vals, axis=1), axis=1, kind="stable"), axis=1)
    else:
        order = xp.argsort(vals, axis=1, kind="stable")
    return xp.take_along_axis(cols, order, axis=1).astype(xp.int64)
