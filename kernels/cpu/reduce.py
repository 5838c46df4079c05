"""sum and mean of large float32 arrays, over everything or over the last axis, on Numba's threads.

NumPy sums float32 on one thread with its pairwise loop: 301,056 elements took 0.157 ms against PyTorch's
0.031 (examples/benchmark_elementwise.py's machine, 2 vCPUs), and over rows of 28 (mean(-1) of a
64x6x28x28 tensor) 0.34 ms against 0.081, NumPy's per-row loop setup dominating. A whole-array sum adds
blocks of 256 elements on the threads, each in float32 vector lanes (fastmath "reassoc" lets LLVM keep
several partial sums: at most 16 additions per lane, as in the leaves of NumPy's pairwise sum), and the
block sums in float64; a last-axis sum adds each row into a float64 accumulator (rows may be long). Either
is at least as accurate as NumPy's pairwise float32 sum (whose bits it need not match): measured on
301,056 standard normal elements + 0.3, 4.7e-5 from the exact sum against NumPy's 7.3e-3. float64
arrays, other axes, dtype= and small arrays are NumPy's.

cumsum of float32/float64 arrays along any axis runs in a Numba loop that accumulates in float64 and
rounds each prefix sum once, as PyTorch's CPU cumsum does (the same bits; NumPy's float32 cumsum adds in
float32, 2e-4 off at 4,096 standard normal terms): (64, 4096) along the last axis, 0.88 ms in NumPy
against PyTorch's 0.18. Rows along the last axis run on the threads, four side by side (one row alone is
a chain of dependent additions: 0.246 -> 0.115 ms on one thread for that shape); other axes add whole inner
rows, vectorised. ``reverse`` sums from the end (cumsum's gradient: no flipped copies), and a broadcast
input (sum()'s gradient) is read in place, not copied first.
"""
import math

import numpy as np
from numba import prange

from kernels.cpu._serial import by_size

__all__ = ["cumsum", "mean", "sum"]

_BLOCK = 256  # a whole-array sum's blocks: float32 lanes of at most 16 additions each, then float64
LOOP_FROM = 1 << 15  # elements; below, NumPy's call is as fast


@by_size(fastmath={"reassoc", "contract"})
def _block_sums(x, sums):
    for b in prange(sums.size):
        block = x[b * _BLOCK:(b + 1) * _BLOCK]  # (a loop over range(start, stop) ran 4x slower)
        acc = np.float32(0.0)
        for i in range(block.size):
            acc += block[i]
        sums[b] = acc


@by_size(fastmath={"reassoc", "contract"})
def _row_sums(x, sums, scale):
    for r in prange(sums.size):
        row = x[r]
        acc = 0.0
        for j in range(row.size):
            acc += np.float64(row[j])
        sums[r] = acc * scale


def _reduced_axis(x, axis):
    """'all', 'last' or None (not ours) for a NumPy axis argument."""
    if axis is None:
        return "all"
    if type(axis) is tuple:
        if len(axis) != 1:
            in_range = all(isinstance(a, (int, np.integer)) and -x.ndim <= a < x.ndim for a in axis)
            return "all" if in_range and sorted(a % x.ndim for a in axis) == list(range(x.ndim)) else None
        axis = axis[0]
    if not isinstance(axis, (int, np.integer)) or axis not in (-1, x.ndim - 1):
        return None
    return "all" if x.ndim == 1 else "last"  # (NumPy's sum of a 1-d array is a scalar, over any axis)


def _reduce(x, axis, keepdims, dtype, is_mean):
    kind = None
    if (type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous
            and (dtype is None or dtype == np.float32) and x.shape[-1] > 0):
        kind = _reduced_axis(x, axis)
    if kind is None:
        return (x.mean(axis=axis, keepdims=keepdims, dtype=dtype) if is_mean
                else x.sum(axis=axis, keepdims=keepdims, dtype=dtype))
    if kind == "all":
        sums = np.empty(-(-x.size // _BLOCK))
        _block_sums(x.reshape(-1), sums)
        with np.errstate(over="ignore"):  # beyond float32's range: inf, as PyTorch's sum, silently
            total = np.float32(sums.sum() / x.size if is_mean else sums.sum())
        return np.full((1,) * x.ndim, total) if keepdims else total
    rows = x.reshape(-1, x.shape[-1])
    sums = np.empty(rows.shape[0])
    _row_sums(rows, sums, 1.0 / x.shape[-1] if is_mean else 1.0)
    with np.errstate(over="ignore"):
        out = sums.astype(np.float32).reshape(x.shape[:-1])
    return out[..., None] if keepdims else out


def sum(x, axis=None, keepdims=False, dtype=None):
    """x.sum(axis, keepdims=keepdims, dtype=dtype) with NumPy's result type and shape."""
    if x.size < LOOP_FROM:  # most calls: NumPy's, at the cost of one test
        return x.sum(axis=axis, keepdims=keepdims, dtype=dtype)
    return _reduce(x, axis, keepdims, dtype, False)


def mean(x, axis=None, keepdims=False):
    """x.mean(axis, keepdims=keepdims) with NumPy's result type and shape."""
    if x.size < LOOP_FROM:
        return x.mean(axis=axis, keepdims=keepdims)
    return _reduce(x, axis, keepdims, None, True)


ROWS = 4  # rows summed side by side along the last axis: independent chains of additions


@by_size(fastmath={"contract"})
def _cumsum(a, out, reverse):
    # out[o, i, j] = the sum of a[o, :i + 1, j] (reverse: a[o, i:, j]) in float64; a, out (outer, n, inner)
    outer, n, inner = a.shape
    if inner == 1:
        for block in prange((outer + ROWS - 1) // ROWS):
            o0 = block * ROWS
            if o0 + ROWS <= outer:
                # one row's sum is a chain of dependent additions (3-4 cycles each); four rows at once keep
                # four chains in flight. Each row still adds in its own order: the same bits.
                s0 = s1 = s2 = s3 = 0.0
                for step in range(n):
                    i = n - 1 - step if reverse else step
                    s0 += a[o0, i, 0]
                    s1 += a[o0 + 1, i, 0]
                    s2 += a[o0 + 2, i, 0]
                    s3 += a[o0 + 3, i, 0]
                    out[o0, i, 0] = s0
                    out[o0 + 1, i, 0] = s1
                    out[o0 + 2, i, 0] = s2
                    out[o0 + 3, i, 0] = s3
            else:
                for o in range(o0, outer):
                    s = 0.0
                    for step in range(n):
                        i = n - 1 - step if reverse else step
                        s += a[o, i, 0]
                        out[o, i, 0] = s
    else:
        for o in prange(outer):
            acc = np.zeros(inner)
            for step in range(n):
                i = n - 1 - step if reverse else step
                src, dst = a[o, i], out[o, i]
                for j in range(inner):
                    acc[j] += src[j]
                    dst[j] = acc[j]


def cumsum(x, axis, reverse=False):
    """The cumulative sum of x along axis (reverse: from the end); NumPy's result dtype. float32/float64
    accumulate in float64 (see the module docstring); other dtypes are NumPy's."""
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or not x.size:
        if reverse:
            return np.flip(np.cumsum(np.flip(x, axis=axis), axis=axis), axis=axis)
        return np.cumsum(x, axis=axis)
    axis %= x.ndim
    view = (math.prod(x.shape[:axis]), x.shape[axis], -1)
    out = np.empty(x.shape, x.dtype)
    # a view where the strides allow (a broadcast gradient of sum() reads its one value, not a copy)
    _cumsum(x.reshape(view), out.reshape(view), bool(reverse))
    return out
