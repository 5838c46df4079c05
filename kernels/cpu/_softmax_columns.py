"""softmax, log_softmax and cross entropy along a middle axis (CPU): arrays (outer, C, inner), C the softmax
axis, vectorised along inner.

softmax(x, dim=1) of (N, C, H, W) and segmentation's cross entropy have C classes at a stride of H * W.
Moving them last costs a transposed copy each way and leaves rows of a few classes (21 for VOC), where a row
kernel's per-row work (a reduction, a log) outweighs the row; here each pass over the classes works on a
block of positions at once, so every loop is elementwise along the contiguous axis (it vectorises with no
fast-math flags) and the per-position statistics live in small block arrays:
    m = max_c x[c],  s = sum_c exp(x[c] - m),  then the outputs as in kernels/cpu/softmax.py.
The sums run in class order per position. A block (its C x BLOCK values) stays in L2 between the passes.
NaN and inf behave as in the row kernels: a position whose classes hold NaN or +inf, or only -inf, gives
NaN in every class (the max skips a NaN, but exp(NaN - m) makes the sum NaN).
"""
import math

import numpy as np
from numba import njit, prange

from kernels import _softmax_math
from kernels._shared_jit import cached_as, compile_functions
from kernels.cpu import _exp
from kernels.cpu._exp import vexp

_S = compile_functions(_softmax_math, njit(inline="always"))

BLOCK = 256  # positions per block: 1 KB of float32 per class row, a vector loop of 16 AVX-512 steps


def _kernel(fn):
    """A parallel kernel over (outer index, block of positions); cached as kernels/cpu/softmax.py's are."""
    return njit(parallel=True, cache=True)(cached_as(fn, _softmax_math, _exp))


# ---------------------------------------------------------------------------------------------
# one block: the statistics of each position over the classes. Each class row is taken as x[o, c, a:b]:
# Numba types that slice contiguous ("C"), where x[o, :, a:b][c] would be "A" (any stride) and stay scalar.

@njit(inline="always")
def _block_bounds(it, blocks, inner):
    o = it // blocks
    start = (it - o * blocks) * BLOCK
    return o, start, min(start + BLOCK, inner)


@njit
def _max_over_classes(x, o, start, stop):
    m = x[o, 0, start:stop].copy()
    for c in range(1, x.shape[1]):
        xr = x[o, c, start:stop]
        for j in range(m.size):
            v = xr[j]
            m[j] = v if v > m[j] else m[j]
    return m


@njit
def _sum_exp_over_classes(x, o, start, m):
    s = np.zeros_like(m)
    for c in range(x.shape[1]):
        xr = x[o, c, start:start + m.size]
        for j in range(m.size):
            s[j] += vexp(xr[j] - m[j])
    return s


@njit
def _log_into(s):
    for j in range(s.size):
        s[j] = math.log(s[j])


# ---------------------------------------------------------------------------------------------
# kernels

@_kernel
def softmax_forward(x, y, log):
    """y = softmax (log_softmax if log) of x (outer, C, inner) along axis 1."""
    outer, classes, inner = x.shape
    blocks = (inner + BLOCK - 1) // BLOCK
    for it in prange(outer * blocks):
        o, start, stop = _block_bounds(it, blocks, inner)
        m = _max_over_classes(x, o, start, stop)
        if log:
            ls = _sum_exp_over_classes(x, o, start, m)
            _log_into(ls)
            for c in range(classes):
                xr = x[o, c, start:stop]
                yr = y[o, c, start:stop]
                for j in range(m.size):
                    yr[j] = (xr[j] - m[j]) - ls[j]
        else:
            s = np.zeros_like(m)
            for c in range(classes):
                xr = x[o, c, start:stop]
                yr = y[o, c, start:stop]
                for j in range(m.size):
                    e = vexp(xr[j] - m[j])
                    yr[j] = e
                    s[j] += e
            for j in range(m.size):
                s[j] = 1 / s[j]
            for c in range(classes):
                yr = y[o, c, start:stop]
                for j in range(m.size):
                    yr[j] *= s[j]


@_kernel
def softmax_backward(gy, y, gx, log):
    """gx from the forward's output y and gy, all (outer, C, inner): y (gy - sum_c gy y) for softmax,
    gy - exp(y) sum_c gy for log_softmax."""
    outer, classes, inner = y.shape
    blocks = (inner + BLOCK - 1) // BLOCK
    for it in prange(outer * blocks):
        o, start, stop = _block_bounds(it, blocks, inner)
        d = np.zeros(stop - start, y.dtype)
        for c in range(classes):
            gr = gy[o, c, start:stop]
            yr = y[o, c, start:stop]
            if log:
                for j in range(d.size):
                    d[j] += gr[j]
            else:
                for j in range(d.size):
                    d[j] += gr[j] * yr[j]
        for c in range(classes):
            gr = gy[o, c, start:stop]
            yr = y[o, c, start:stop]
            outr = gx[o, c, start:stop]
            if log:
                for j in range(d.size):
                    outr[j] = gr[j] - vexp(yr[j]) * d[j]
            else:
                for j in range(d.size):
                    outr[j] = yr[j] * (gr[j] - d[j])


@_kernel
def cross_entropy_forward(x, target, w, has_weight, w_sum, ignore_index, one_minus_eps, eps_over_c,
                          smoothing, loss, stats):
    """Per-position loss (outer, inner) and stats (outer, inner, 2) = (max, log(sum(exp(x - max)))) of logits
    x (outer, C, inner) against targets (outer, inner); the maths of kernels/_softmax_math.py."""
    outer, classes, inner = x.shape
    blocks = (inner + BLOCK - 1) // BLOCK
    one = x.dtype.type(1)
    for it in prange(outer * blocks):
        o, start, stop = _block_bounds(it, blocks, inner)
        m = _max_over_classes(x, o, start, stop)
        ls = _sum_exp_over_classes(x, o, start, m)
        _log_into(ls)
        gap = np.zeros_like(m)  # sum_c w_c (m - x_c), for label smoothing
        if smoothing:
            for c in range(classes):
                xr = x[o, c, start:stop]
                wc = w[c] if has_weight else one
                for j in range(m.size):
                    gap[j] += wc * (m[j] - xr[j])
        tr = target[o, start:stop]
        lr = loss[o, start:stop]
        sr = stats[o, start:stop]
        for j in range(m.size):
            sr[j, 0] = m[j]
            sr[j, 1] = ls[j]
            t = tr[j]
            if t == ignore_index:
                lr[j] = 0
            elif t < 0 or t >= classes:
                lr[j] = np.nan
            else:
                smooth = w_sum * ls[j] + gap[j] if smoothing else x.dtype.type(0)
                w_t = _S.target_weight(t, w, has_weight, one)
                nll = (m[j] - x[o, t, start + j]) + ls[j]
                lr[j] = _S.row_loss(nll, smooth, w_t, one_minus_eps, eps_over_c)


@_kernel
def cross_entropy_backward(grad_loss, x, target, stats, w, has_weight, w_sum, ignore_index, one_minus_eps,
                           eps_over_c, smoothing, gx):
    """d(sum grad_loss * loss) / dx for cross_entropy_forward's loss, x and gx (outer, C, inner)."""
    outer, classes, inner = x.shape
    blocks = (inner + BLOCK - 1) // BLOCK
    one = x.dtype.type(1)
    for it in prange(outer * blocks):
        o, start, stop = _block_bounds(it, blocks, inner)
        tr = target[o, start:stop]
        sr = stats[o, start:stop]
        gl = grad_loss[o, start:stop]
        n = stop - start
        m = np.empty(n, x.dtype)
        ls = np.empty(n, x.dtype)
        a = np.zeros(n, x.dtype)
        b = np.zeros(n, x.dtype)
        h = np.zeros(n, x.dtype)
        for j in range(n):
            m[j] = sr[j, 0]
            ls[j] = sr[j, 1]
            t = tr[j]
            if t != ignore_index and 0 <= t < classes:
                w_t = _S.target_weight(t, w, has_weight, one)
                a[j], b[j], h[j] = _S.grad_coefficients(gl[j], w_t, w_sum, one_minus_eps, eps_over_c)
        for c in range(classes):
            xr = x[o, c, start:stop]
            outr = gx[o, c, start:stop]
            wc = w[c] if smoothing and has_weight else one
            for j in range(n):
                outr[j] = a[j] * vexp((xr[j] - m[j]) - ls[j]) - b[j] * wc
        for j in range(n):  # the target's term; ignored positions 0, bad targets NaN (as the row kernel)
            t = tr[j]
            if t == ignore_index or t < 0 or t >= classes:
                fill = x.dtype.type(0) if t == ignore_index else x.dtype.type(np.nan)
                for c in range(classes):
                    gx[o, c, start + j] = fill
            else:
                gx[o, t, start + j] -= h[j]
