"""softmax, log_softmax and cross entropy along the last axis (CUDA): a row per segment of a thread block.

Same names, signatures and formulas as kernels/cpu/softmax.py (see there); another axis (or (N, C, L)
cross-entropy logits) is moved last first, a transposed copy each way. A row of c columns gets t
threads, the power of two at or above c up to 256 (a block of 256 holds 256 / t narrow rows). Each thread
strides over the row once, keeping a running max and a sum of exp rescaled whenever the max grows; the
row's t pairs are then combined in shared memory (a tree of halvings between barriers), and a second
stride writes the output. The cross-entropy backward is elementwise given each row's (max, log of the
shifted sum): one thread per element. Every barrier is reached by every thread of the block (rows past
the end only skip the loads), and the simulator pays for each barrier, so there are few: one reduction
per kernel (two with label smoothing). No operation is invalid (inf - inf, log(0)): a row that must give
NaN (a NaN or +inf in it, or only -inf) is written NaN directly. The cross-entropy maths is
kernels/_softmax_math.py, shared with kernels.cpu. exp and log are CUDA's float32/float64 functions in
the arrays' dtype; every constant is made in that dtype, so a float32 kernel never computes in float64.
float16 runs through the float32 kernels. Nothing here synchronises: the launchers only allocate, cast
and launch (kernels.cuda._launch).
"""
import math

import numpy as np

from kernels import _softmax_math
from kernels import _softmax_shapes as shapes
from kernels.cuda._launch import (SIMULATOR, THREADS_PER_BLOCK, cuda, device_function, device_functions,
                                  kernel, launch, launch_grid, xp)

__all__ = ["softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
           "cross_entropy_forward", "cross_entropy_backward"]

_S = device_functions(_softmax_math)
_BLOCK = THREADS_PER_BLOCK  # threads per block; a row gets a power-of-two share of them


def _geometry(m, c):
    """(grid, block, threads per row) for m rows of c columns: threads per row t = the power of two at or
    above c (at most _BLOCK), as many rows per block as fit (at most m)."""
    t = min(_BLOCK, 1 << max(0, int(c) - 1).bit_length())
    rows = max(1, min(_BLOCK // t, m))
    return (-(-m // rows),), (rows * t,), t


@device_function
def _term(s, m_part, m):
    """s * exp(m_part - m) for a part of a row whose sum is s; an empty or all -inf part (s == 0) adds 0
    and a NaN sum stays NaN, without forming -inf - -inf."""
    return s * math.exp(m_part - m) if s > 0 else s


@device_function
def _segment_max_sum(bm, bs, m, s, lane, t):
    """Combine the (max, sum of exp(x - max)) pairs of the t threads of a row (t a power of two, a
    segment of the block); every thread of the segment gets the row's pair. All threads of the block
    call it (it holds barriers)."""
    k = cuda.threadIdx.x
    bm[k] = m
    bs[k] = s
    cuda.syncthreads()
    step = t // 2
    while step > 0:
        if lane < step:
            m1, s1, m2, s2 = bm[k], bs[k], bm[k + step], bs[k + step]
            m = m2 if m2 > m1 else m1
            bm[k] = m
            bs[k] = _term(s1, m1, m) + _term(s2, m2, m)
        cuda.syncthreads()
        step //= 2
    first = k - lane
    m, s = bm[first], bs[first]
    cuda.syncthreads()  # the buffers are reused by the next reduction
    return m, s


@device_function
def _segment_sum(buf, v, lane, t):
    """The sum of v over the t threads of a row; every thread of the segment gets it."""
    k = cuda.threadIdx.x
    buf[k] = v
    cuda.syncthreads()
    step = t // 2
    while step > 0:
        if lane < step:
            buf[k] += buf[k + step]
        cuda.syncthreads()
        step //= 2
    out = buf[k - lane]
    cuda.syncthreads()
    return out


@device_function
def _row_max_sum_exp(x, base, c, active, lane, t, bm, bs):
    """(m, s): the max of the row x[base:base + c] and s = sum(exp(x - m)), in one read. Each thread keeps
    a running max of the finite values and rescales its sum when it grows, then the segment combines the
    pairs. A NaN or +inf makes s NaN, a row of only -inf leaves s = 0: both rows then give NaN, as
    PyTorch (the CPU's two passes reach the same by way of inf - inf; here no operation is invalid, so
    the simulator, which runs kernels on NumPy scalars, raises no floating-point warning either)."""
    f = x.dtype.type
    m = f(-math.inf)
    s = f(0)
    if active:
        for j in range(lane, c, t):
            v = x[base + j]
            if v != v or v == f(math.inf):
                s = f(math.nan)
            elif v > m:
                s = s * math.exp(m - v) + f(1)
                m = v
            elif v != f(-math.inf):
                s += math.exp(v - m)
    return _segment_max_sum(bm, bs, m, s, lane, t)


@device_function
def _row_of(m_rows, t):
    """(row, lane, whether the row exists): rows of t threads each, blockDim.x // t rows per block."""
    k = cuda.threadIdx.x
    lane = k % t
    row = cuda.blockIdx.x * (cuda.blockDim.x // t) + k // t
    return row, lane, row < m_rows


@kernel
def _softmax_fwd(x, y, m_rows, c, t, log):
    row, lane, active = _row_of(m_rows, t)
    base = row * c
    bm = cuda.shared.array(_BLOCK, dtype=x.dtype)
    bs = cuda.shared.array(_BLOCK, dtype=x.dtype)
    m, s = _row_max_sum_exp(x, base, c, active, lane, t, bm, bs)
    if not active:
        return
    if not s > 0:  # NaN, +inf or only -inf in the row
        for j in range(lane, c, t):
            y[base + j] = x.dtype.type(math.nan)
    elif log:
        ls = math.log(s)
        for j in range(lane, c, t):
            y[base + j] = (x[base + j] - m) - ls
    else:
        r = x.dtype.type(1) / s
        for j in range(lane, c, t):
            y[base + j] = math.exp(x[base + j] - m) * r


@kernel
def _softmax_bwd(gy, y, gx, m_rows, c, t, log):
    row, lane, active = _row_of(m_rows, t)
    base = row * c
    buf = cuda.shared.array(_BLOCK, dtype=y.dtype)
    s = y.dtype.type(0)
    if active:
        for j in range(lane, c, t):
            s += gy[base + j] if log else gy[base + j] * y[base + j]
    s = _segment_sum(buf, s, lane, t)
    if not active:
        return
    for j in range(lane, c, t):
        k = base + j
        gx[k] = gy[k] - math.exp(y[k]) * s if log else y[k] * (gy[k] - s)


@kernel(uses=_softmax_math)
def _ce_fwd(x, target, w, has_weight, w_sum, ignore_index, one_minus_eps, eps_over_c, smoothing, loss, stats,
            m_rows, c, t):
    row, lane, active = _row_of(m_rows, t)
    base = row * c
    f = x.dtype.type
    bm = cuda.shared.array(_BLOCK, dtype=x.dtype)
    bs = cuda.shared.array(_BLOCK, dtype=x.dtype)
    m, s = _row_max_sum_exp(x, base, c, active, lane, t, bm, bs)
    finite = s > 0  # else the row's loss is NaN
    ls = math.log(s) if finite else f(math.nan)
    smooth = f(0)
    if smoothing:  # the same for every thread of the block: all reach the barriers
        gap = f(0)
        if active and finite:
            for j in range(lane, c, t):
                gap += (w[j] if has_weight else f(1)) * (m - x[base + j])
        smooth = w_sum[0] * ls + _segment_sum(bs, gap, lane, t)
    if not active or lane != 0:
        return
    stats[2 * row] = m
    stats[2 * row + 1] = ls
    k = target[row]
    if k == ignore_index:
        loss[row] = 0
    elif k < 0 or k >= c or not finite:
        loss[row] = f(math.nan)
    else:
        w_t = _S.target_weight(k, w, has_weight, f(1))
        loss[row] = _S.row_loss((m - x[base + k]) + ls, smooth, w_t, one_minus_eps, eps_over_c)


@kernel(uses=_softmax_math)
def _ce_bwd(grad_loss, x, target, stats, w, has_weight, w_sum, ignore_index, one_minus_eps, eps_over_c, gx, c,
            n):
    k = cuda.grid(1)
    if k >= n:
        return
    f = x.dtype.type
    row = k // c
    col = k - row * c
    t = target[row]
    ls = stats[2 * row + 1]
    if t == ignore_index:
        gx[k] = 0
        return
    if t < 0 or t >= c or ls != ls:  # a bad target, or a row whose softmax is NaN
        gx[k] = f(math.nan)
        return
    a, b, h = _S.grad_coefficients(grad_loss[row], _S.target_weight(t, w, has_weight, f(1)), w_sum[0],
                                   one_minus_eps, eps_over_c)
    g = a * math.exp((x[k] - stats[2 * row]) - ls) - b * (w[col] if has_weight else f(1))
    gx[k] = g - h if col == t else g


# ---------------------------------------------------------------------------------------------
# launchers

def _output(shape, dtype):
    """A buffer the kernel fully overwrites; NaN-poisoned in the simulator so tests catch gaps."""
    return xp.full(shape, math.nan, dtype=dtype) if SIMULATOR else xp.empty(shape, dtype=dtype)


def _compute(a):
    # float16 through the float32 kernels; C-contiguous (kernels index flat)
    return xp.ascontiguousarray(a.astype(xp.float32) if a.dtype == xp.float16 else a)


def _last(a, axis, to_last):
    """a with axis moved last (to_last) or back from last, C-contiguous: the kernels index flat rows."""
    if axis % a.ndim == a.ndim - 1:
        return a
    return xp.ascontiguousarray(xp.moveaxis(a, axis, -1) if to_last else xp.moveaxis(a, -1, axis))


def _forward(x, axis, log, op):
    shapes.outer_classes_inner(x, axis, "x", op)
    xc = _compute(_last(x, axis, True))
    m, c = shapes.rows_and_classes(xc, "x", op)
    y = _output(xc.shape, xc.dtype)
    if x.size:
        grid, block, t = _geometry(m, c)
        launch_grid(_softmax_fwd, grid, block, xc.reshape(-1), y.reshape(-1), m, c, t, log)
    return _last(y, axis, False).astype(x.dtype, copy=False)


def _backward(grad_y, y, axis, log, op):
    shapes.check_pair(op, grad_y, y, axis)
    yc, gc = _compute(_last(y, axis, True)), _compute(_last(grad_y, axis, True))
    m, c = shapes.rows_and_classes(yc, "y", op)
    gx = _output(yc.shape, yc.dtype)
    if y.size:
        grid, block, t = _geometry(m, c)
        launch_grid(_softmax_bwd, grid, block, gc.reshape(-1), yc.reshape(-1), gx.reshape(-1), m, c, t, log)
    return _last(gx, axis, False).astype(y.dtype, copy=False)


def softmax_forward(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along axis."""
    return _forward(x, axis, False, "softmax_forward")


def log_softmax_forward(x, axis=-1):
    """(x - max) - log(sum(exp(x - max))) along axis."""
    return _forward(x, axis, True, "log_softmax_forward")


def softmax_backward(grad_y, y, axis=-1):
    """grad_x = y * (grad_y - sum(grad_y * y)) along axis; y is softmax_forward's output."""
    return _backward(grad_y, y, axis, False, "softmax_backward")


def log_softmax_backward(grad_y, y, axis=-1):
    """grad_x = grad_y - exp(y) * sum(grad_y) along axis; y is log_softmax_forward's output."""
    return _backward(grad_y, y, axis, True, "log_softmax_backward")


def _ce_scalars(x, weight, label_smoothing, c):
    """(weight array, has_weight, W, 1 - eps, eps / C) in the compute dtype; W = sum(w) stays on the device
    (a (1,) array: reading it back would stall the host)."""
    f = np.dtype(x.dtype).type
    eps = float(label_smoothing)
    w = xp.empty(0, x.dtype) if weight is None else _compute(weight)
    w_sum = xp.asarray(f(c), dtype=x.dtype).reshape(1) if weight is None else w.sum(keepdims=True)
    return w, weight is not None, w_sum, f(1 - eps), f(eps / c if c else 0.0)


def _rows(x, *per_position):
    """Logits (N, C, L) as rows (N L, C) with the per-position arrays flat; (M, C) as they are."""
    if x.ndim == 2:
        return (x,) + per_position
    return (xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1]),) + tuple(a.reshape((-1,) + a.shape[2:])
                                                                     for a in per_position)


def cross_entropy_forward(x, target, weight, ignore_index, label_smoothing):
    """Cross entropy of logits x (M, C) against class indices target (M,), or of x (N, C, L) against target
    (N, L), per row (position i): returns (loss of target's shape, stats of target's shape + (2,)).
    loss_i = (1 - eps) w_t (logsumexp(x_i) - x_it) + eps / C * sum_c w_c (logsumexp(x_i) - x_ic), 0 where
    target == ignore_index (the caller reduces and normalises); stats holds each row's max and
    log(sum(exp(x - max))), all cross_entropy_backward needs besides x. (N, C, L) runs as rows."""
    m, c = shapes.check_cross_entropy("cross_entropy_forward", x, target, weight)
    xc, target = _rows(_compute(x), target)
    xc = xp.ascontiguousarray(xc)
    loss = _output(m, xc.dtype)
    stats = _output((m, 2), xc.dtype)
    if m and c == 0:
        loss[...] = xp.where(target == ignore_index, 0, xp.nan).astype(xc.dtype)
        stats[:, 0] = -xp.inf
        stats[:, 1] = xp.nan
    elif m:
        w, has_weight, w_sum, one_minus_eps, eps_over_c = _ce_scalars(xc, weight, label_smoothing, c)
        grid, block, t = _geometry(m, c)
        launch_grid(_ce_fwd, grid, block, xc.reshape(-1), xp.ascontiguousarray(target, dtype=xp.int64), w,
                    has_weight, w_sum, np.int64(ignore_index), one_minus_eps, eps_over_c,
                    label_smoothing != 0, loss, stats.reshape(-1), m, c, t)
    shape = x.shape[:1] + x.shape[2:]
    return loss.reshape(shape).astype(x.dtype, copy=False), stats.reshape(shape + (2,))


def cross_entropy_backward(grad_loss, x, target, stats, weight, ignore_index, label_smoothing):
    """d(sum_i grad_loss_i * loss_i) / dx for cross_entropy_forward's loss, in one pass over x:
    grad_loss_i * ((1 - eps) w_t + eps W / C) softmax(x_i) - eps / C * w - [c == t] (1 - eps) w_t),
    zero rows where target == ignore_index."""
    m, c = shapes.check_cross_entropy_backward("cross_entropy_backward", grad_loss, x, target, stats, weight)
    xc, target, stats, grad_loss = _rows(_compute(x), target, stats, grad_loss)
    xc = xp.ascontiguousarray(xc)
    gx = _output(xc.shape, xc.dtype)
    if x.size:
        w, has_weight, w_sum, one_minus_eps, eps_over_c = _ce_scalars(xc, weight, label_smoothing, c)
        launch(_ce_bwd, x.size, _compute(grad_loss), xc.reshape(-1),
               xp.ascontiguousarray(target, dtype=xp.int64),
               xp.ascontiguousarray(stats, dtype=xc.dtype).reshape(-1),
               w, has_weight, w_sum,
               np.int64(ignore_index), one_minus_eps, eps_over_c, gx.reshape(-1), c, x.size)
    if x.ndim == 3:  # rows (N L, C) back to (N, C, L)
        gx = xp.ascontiguousarray(xp.moveaxis(gx.reshape(x.shape[0], -1, c), -1, 1))
    return gx.astype(x.dtype, copy=False)
