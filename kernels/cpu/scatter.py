"""Scatter-adds on the CPU, repeated positions accumulating, and the gather they invert:
- add_rows: target[index[i]] += values[i] (the gradient of an embedding or of x[index] along the first axis);
- add_along_axis: the inverse of take_along_axis (the gradient of torch.gather, and scatter_add);
- take_along_axis: NumPy's, in one pass (torch.gather, and scatter_add's gradient for src). NumPy builds
  broadcast index arrays and fancy-indexes: 35-40 us for 64 x 200 values out of 64 x 1,000.

NumPy has no direct way: add.at is unbuffered and slow, and sorting the index then summing runs with
add.reduceat (gpunet's way before) spent 7.8 ms in reduceat alone for the gradient of a 32,000 x 256
embedding looked up at 32 x 128 tokens (the whole backward 15.7 ms, PyTorch 5.6). Here one pass adds each
row in index order; along an axis, the slices before the axis on the threads.
"""
import math

import numpy as np
from numba import njit, prange

from kernels._scatter_checks import check_along
from kernels.cpu._serial import by_size

__all__ = ["add_rows", "add_along_axis", "take_along_axis"]


@njit(cache=True)
def _add_rows(target, index, values):
    n = target.shape[0]
    for i in range(index.size):
        r = index[i]
        row = target[r + n if r < 0 else r]
        v = values[i]
        for j in range(row.size):
            row[j] += v[j]


def add_rows(target, index, values):
    """target[index[i]] += values[i] along target's first axis, in place, for a 1-D integer index (negative
    rows count from the end) and values of shape (index.size,) + target.shape[1:]; repeated rows add up.
    IndexError (NumPy's message) for a row outside target."""
    n = target.shape[0]
    if not index.size:
        return
    low, high = int(index.min()), int(index.max())
    if low < -n or high >= n:
        bad = low if low < -n else high
        raise IndexError(f"index {bad} is out of bounds for axis 0 with size {n}")
    if (target.dtype in (np.float32, np.float64) and values.dtype == target.dtype
            and target.flags.c_contiguous and target.size):
        _add_rows(target.reshape(n, -1), index.astype(np.int64, copy=False),
                  np.ascontiguousarray(values).reshape(index.size, -1))
    else:
        np.add.at(target, index, values)


@by_size()
def _add_along(values, index, target):
    # target (outer, n, inner) += values (outer, k, inner) at index (outer, k, inner) along axis 1
    n = target.shape[1]
    for o in prange(target.shape[0]):
        # j innermost: along the last axis (inner 1) a loop over i of one pass per value took 2x as long
        # (64 x 200 values into 64 x 1,000: 22 against 11 us); each target element still adds its values in
        # the order of j
        for i in range(index.shape[2]):
            for j in range(index.shape[1]):
                r = index[o, j, i]
                target[o, r + n if r < 0 else r, i] += values[o, j, i]


@by_size()
def _take_along(source, index, out):
    # out (outer, k, inner) = source (outer, n, inner) at index (outer, k, inner) along axis 1
    n = source.shape[1]
    for o in prange(out.shape[0]):
        for i in range(index.shape[2]):  # j innermost, as _add_along
            for j in range(index.shape[1]):
                r = index[o, j, i]
                out[o, j, i] = source[o, r + n if r < 0 else r, i]


def _axis_parts(shape, axis):
    return math.prod(shape[:axis]), math.prod(shape[axis + 1:])


def _index_in_range(index, n, axis):
    low, high = int(index.min()), int(index.max())
    if low < -n or high >= n:
        raise IndexError(f"index {low if low < -n else high} is out of bounds for axis {axis} with size {n}")


def _three_axes(x, axis):
    """x as (before the axis, the axis, after it) without a copy (a broadcast or transposed gradient is read
    where it is), or None where that takes one."""
    outer, inner = _axis_parts(x.shape, axis)
    shape = (outer, x.shape[axis], inner)
    if x.flags.c_contiguous:
        return x.reshape(shape)
    try:
        return np.reshape(x, shape, copy=False)
    except (ValueError, TypeError):  # a copy needed (or NumPy before 2.1, which cannot be asked)
        return None


def take_along_axis(source, axis, index):
    """np.take_along_axis(source, index, axis) for an integer index of source's shape off the axis (negative
    indices count from the end; IndexError, NumPy's message, for one outside the axis)."""
    if not (-source.ndim <= axis < source.ndim and index.ndim == source.ndim and index.size
            and index.dtype.kind in "iu" and source.dtype in (np.float32, np.float64)):
        return np.take_along_axis(source, index, axis)  # (which raises NumPy's errors)
    axis %= source.ndim
    three = _three_axes(source, axis)
    if three is None or any(k != axis and i != t for k, (i, t) in enumerate(zip(index.shape, source.shape))):
        return np.take_along_axis(source, index, axis)
    n = source.shape[axis]
    _index_in_range(index, n, axis)
    outer, inner = _axis_parts(source.shape, axis)
    out = np.empty(index.shape, source.dtype)
    _take_along(three, np.ascontiguousarray(index, dtype=np.int64).reshape(outer, -1, inner),
                out.reshape(outer, -1, inner))
    return out


def add_along_axis(target, axis, index, values):
    """At every position p of index, target[p with p[axis] replaced by index[p]] += values[p], in place
    (negative indices count from the end; repeated positions add up): what torch.gather's backward and
    scatter_add do. index and values share a shape no larger than target's off the axis. IndexError
    (NumPy's message) for an index outside the axis, before anything is added."""
    axis = check_along(target, axis, index, values)
    if not index.size:
        return
    n = target.shape[axis]
    _index_in_range(index, n, axis)
    same_off_axis = all(k == axis or i == t for k, (i, t) in enumerate(zip(index.shape, target.shape)))
    if (same_off_axis and target.dtype in (np.float32, np.float64) and values.dtype == target.dtype
            and target.flags.c_contiguous):
        outer, inner = _axis_parts(target.shape, axis)
        _add_along(np.ascontiguousarray(values).reshape(outer, -1, inner),
                   np.ascontiguousarray(index, dtype=np.int64).reshape(outer, -1, inner),
                   target.reshape(outer, n, inner))
    else:
        grids = list(np.ogrid[tuple(slice(0, s) for s in index.shape)])
        grids[axis] = index
        np.add.at(target, tuple(grids), values)
