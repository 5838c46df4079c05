"""softmax, log_softmax and cross entropy along the last axis (CPU): one Numba pass per row, rows in parallel.

Each row is read from memory once per kernel and then stays in the core's cache (a 9,408-class float32
row is 37 KB), so a kernel costs about one read of its inputs and one write of its output:
- forward: the row's max m, s = sum(exp(x - m)), then the output
  softmax: exp(x - m) / s;  log_softmax: (x - m) - log(s);
- backward, from the forward's output y and grad_y = g:
  softmax: y (g - sum(g y));  log_softmax: g - exp(y) sum(g);
- cross entropy: the forward reads x twice (max, then sum of exp; label smoothing adds a weighted sum)
  and writes only the per-row loss and (m, log(s)), the two terms of logsumexp(x): the backward rebuilds
  the softmax from them in its one pass over x, writing the gradient (kernels/_softmax_math.py).
exp is kernels.cpu._exp.vexp (vectorised); sums are compiled with fastmath "reassoc" only, so LLVM can
vectorise them while NaN and inf keep their meaning: a row holding NaN or +inf, or only -inf, gives NaN
everywhere, as PyTorch. The max is taken on the floats' bits, as integers (_max_by_bits). float16 is
computed in float32 and cast back. Small calls run a serial twin of each kernel (kernels/cpu/_serial.py).
Along another axis (softmax(dim=1) of (N, C, H, W); cross entropy of (N, C, L) logits) the same maths runs
in kernels/cpu/_softmax_columns.py, vectorised across the positions.
"""
import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from kernels import _softmax_math
from kernels import _softmax_shapes as shapes
from kernels._shared_jit import cached_as, compile_functions
from kernels.cpu import _exp, _softmax_columns as columns
from kernels.cpu._exp import _float_from_bits, vexp
from kernels.cpu._serial import serial_below, serial_twin

__all__ = ["softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
           "cross_entropy_forward", "cross_entropy_backward"]

_S = compile_functions(_softmax_math, njit(inline="always"))
_SUMS = {"reassoc"}  # vectorised sums; no nnan/ninf


def _kernel(fn):
    """A parallel kernel; its cache entries go stale when the maths it inlines from kernels/_softmax_math.py
    or kernels/cpu/_exp.py changes (Numba's cache checks only this file). The row helpers below are not
    cached themselves: they are compiled into each kernel, only when that kernel is."""
    return njit(parallel=True, cache=True)(cached_as(fn, _softmax_math, _exp))


# ---------------------------------------------------------------------------------------------
# one row: reductions (each its own function, so that only its sum carries "reassoc")

def _row_max(x):
    """The max of a contiguous row; a NaN (of either sign) above every number (the row's sum of exp turns
    NaN in any case). Python fallback for the overload below."""
    return np.max(x)


def _max_by_bits(int_type, bits_type, like):
    """The max of a float row taken on its bits: key = bits ^ ((bits >> (w - 1)) & (2**(w-1) - 1)) orders
    the keys as the floats (the negatives' magnitudes flipped), and an integer max reduction vectorises
    with no fast-math flags (LLVM vectorises a float max only with "nnan"; eight scalar chains measured
    1.5x slower). A positive NaN maps above +inf and becomes the max, a negative one below -inf."""
    shift = int_type(np.dtype(int_type).itemsize * 8 - 1)
    low = int_type(np.iinfo(int_type).max)
    lowest = int_type(np.iinfo(int_type).min)

    def impl(x):
        b = x.view(bits_type)
        k = lowest
        for j in range(b.size):
            i = b[j]
            key = i ^ ((i >> shift) & low)
            k = key if key > k else k
        return _float_from_bits(k ^ ((k >> shift) & low), like)
    return impl


@overload(_row_max)
def _row_max_overload(x):
    if isinstance(x, types.Array) and x.dtype == types.float32:
        return _max_by_bits(np.int32, np.int32, np.float32(0))
    if isinstance(x, types.Array) and x.dtype == types.float64:
        return _max_by_bits(np.int64, np.int64, np.float64(0))
    return None


@njit(fastmath=_SUMS)
def _row_sum_exp(x, m):
    s = x.dtype.type(0)
    for j in range(x.size):
        s += vexp(x[j] - m)
    return s


@njit(fastmath=_SUMS)
def _row_exp_store(x, m, y):
    # y = exp(x - m); returns sum(y)
    s = x.dtype.type(0)
    for j in range(x.size):
        e = vexp(x[j] - m)
        y[j] = e
        s += e
    return s


@njit(fastmath=_SUMS)
def _row_sum(x):
    s = x.dtype.type(0)
    for j in range(x.size):
        s += x[j]
    return s


@njit(fastmath=_SUMS)
def _row_dot(a, b):
    s = a.dtype.type(0)
    for j in range(a.size):
        s += a[j] * b[j]
    return s


@njit(fastmath=_SUMS)
def _row_weighted_gap(x, m, w, has_weight):
    # sum_c w_c (m - x_c)
    s = x.dtype.type(0)
    if has_weight:
        for j in range(x.size):
            s += w[j] * (m - x[j])
    else:
        for j in range(x.size):
            s += m - x[j]
    return s


@njit
def _row_max_log_sum(x):
    """(m, log(sum(exp(x - m))))"""
    m = _row_max(x)
    return m, x.dtype.type(math.log(_row_sum_exp(x, m)))


# ---------------------------------------------------------------------------------------------
# kernels: a prange over rows

@_kernel
def _softmax_fwd(x, y, log):
    for i in prange(x.shape[0]):
        xr = x[i]
        yr = y[i]
        m = _row_max(xr)
        if log:
            ls = xr.dtype.type(math.log(_row_sum_exp(xr, m)))
            for j in range(xr.size):
                yr[j] = (xr[j] - m) - ls
        else:
            # exp stored, then scaled in place while the row is still in cache (measured 1.5x faster
            # than taking exp again)
            r = 1 / _row_exp_store(xr, m, yr)
            for j in range(xr.size):
                yr[j] *= r


@_kernel
def _softmax_bwd(gy, y, gx, log):
    for i in prange(y.shape[0]):
        gr = gy[i]
        yr = y[i]
        out = gx[i]
        if log:
            s = _row_sum(gr)
            for j in range(yr.size):
                out[j] = gr[j] - vexp(yr[j]) * s
        else:
            d = _row_dot(gr, yr)
            for j in range(yr.size):
                out[j] = yr[j] * (gr[j] - d)


@_kernel
def _ce_fwd(x, target, w, has_weight, w_sum, ignore_index, one_minus_eps, eps_over_c, smoothing, loss, stats):
    c = x.shape[1]
    one = x.dtype.type(1)
    for i in prange(x.shape[0]):
        xr = x[i]
        m, ls = _row_max_log_sum(xr)
        stats[i, 0] = m
        stats[i, 1] = ls
        t = target[i]
        if t == ignore_index:
            loss[i] = 0
        elif t < 0 or t >= c:
            loss[i] = np.nan
        else:
            smooth = w_sum * ls + _row_weighted_gap(xr, m, w, has_weight) if smoothing else x.dtype.type(0)
            loss[i] = _S.row_loss((m - xr[t]) + ls, smooth, _S.target_weight(t, w, has_weight, one),
                                  one_minus_eps, eps_over_c)


@_kernel
def _ce_bwd(grad_loss, x, target, stats, w, has_weight, w_sum, ignore_index, one_minus_eps, eps_over_c,
            smoothing, gx):
    c = x.shape[1]
    one = x.dtype.type(1)
    for i in prange(x.shape[0]):
        xr = x[i]
        out = gx[i]
        t = target[i]
        if t == ignore_index:
            for j in range(c):
                out[j] = 0
            continue
        m = xr.dtype.type(stats[i, 0])
        ls = xr.dtype.type(stats[i, 1])
        if t < 0 or t >= c:
            for j in range(c):
                out[j] = np.nan
            continue
        a, b, h = _S.grad_coefficients(grad_loss[i], _S.target_weight(t, w, has_weight, one), w_sum,
                                       one_minus_eps, eps_over_c)
        if smoothing and has_weight:
            for j in range(c):
                out[j] = a * vexp((xr[j] - m) - ls) - b * w[j]
        else:
            for j in range(c):
                out[j] = a * vexp((xr[j] - m) - ls) - b
        out[t] -= h


_TWINS = {k: serial_twin(k) for k in (_softmax_fwd, _softmax_bwd, _ce_fwd, _ce_bwd, columns.softmax_forward,
                                       columns.softmax_backward, columns.cross_entropy_forward,
                                       columns.cross_entropy_backward)}

# Elements below which a call runs serially: TBB wakes Numba's pool in ~2 us, so from ~16K elements
# the second core pays; under the workqueue layer (~100 us a wake-up) from ~256K.
SERIAL_BELOW = None  # None: decided by kernels.cpu._serial.serial_below


def _pick(kernel, size):
    limit = SERIAL_BELOW if SERIAL_BELOW is not None else serial_below(1 << 18, 1 << 14)
    return _TWINS[kernel] if size < limit else kernel


def _compute(a):
    # float16 through the float32 kernels; C-contiguous rows
    a = a.astype(np.float32) if a.dtype == np.float16 else a
    return np.ascontiguousarray(a)


# ---------------------------------------------------------------------------------------------
# public

def _forward(x, axis, log, op):
    outer, c, inner = shapes.outer_classes_inner(x, axis, "x", op)
    xc = _compute(x)
    y = np.empty_like(xc)
    if not x.size:
        pass
    elif inner == 1:
        _pick(_softmax_fwd, x.size)(xc.reshape(outer, c), y.reshape(outer, c), log)
    else:
        _pick(columns.softmax_forward, x.size)(xc.reshape(outer, c, inner), y.reshape(outer, c, inner), log)
    return y.astype(x.dtype, copy=False)


def _backward(grad_y, y, axis, log, op):
    outer, c, inner = shapes.check_pair(op, grad_y, y, axis)
    yc, gc = _compute(y), _compute(grad_y)
    gx = np.empty_like(yc)
    if not y.size:
        pass
    elif inner == 1:
        _pick(_softmax_bwd, y.size)(gc.reshape(outer, c), yc.reshape(outer, c), gx.reshape(outer, c), log)
    else:
        shape = (outer, c, inner)
        _pick(columns.softmax_backward, y.size)(gc.reshape(shape), yc.reshape(shape), gx.reshape(shape), log)
    return gx.astype(y.dtype, copy=False)


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


def _ce_scalars(x, weight, ignore_index, label_smoothing, c):
    """The kernels' arguments after the targets: (weight array, has_weight, W, ignore_index, 1 - eps, eps / C,
    smoothing), floats in the compute dtype."""
    f = x.dtype.type
    eps = float(label_smoothing)
    w = np.empty(0, x.dtype) if weight is None else _compute(weight)
    w_sum = f(c) if weight is None else f(w.sum(dtype=np.float64))
    eps_over_c = f(eps / c if c else 0.0)
    return w, weight is not None, w_sum, np.int64(ignore_index), f(1 - eps), eps_over_c, eps != 0


def _by_columns(x):
    """Whether logits (N, C, L) take the column kernels: L > 1 (else they are rows (N, C))."""
    return x.ndim == 3 and x.shape[2] != 1


def cross_entropy_forward(x, target, weight, ignore_index, label_smoothing):
    """Cross entropy of logits x (M, C) against class indices target (M,), or of x (N, C, L) against target
    (N, L), per row (position i): returns (loss of target's shape, stats of target's shape + (2,)).
    loss_i = (1 - eps) w_t (logsumexp(x_i) - x_it) + eps / C * sum_c w_c (logsumexp(x_i) - x_ic), 0 where
    target == ignore_index (the caller reduces and normalises); stats holds each row's max and
    log(sum(exp(x - max))), all cross_entropy_backward needs besides x."""
    m, c = shapes.check_cross_entropy("cross_entropy_forward", x, target, weight)
    xc = _compute(x)
    loss = np.empty(target.shape, xc.dtype)
    stats = np.empty(target.shape + (2,), xc.dtype)
    if m and c == 0:
        loss[...] = np.where(target == ignore_index, 0, np.nan)
        stats[...] = (-np.inf, np.nan)
    elif m:
        t = np.ascontiguousarray(target, dtype=np.int64)
        scalars = _ce_scalars(xc, weight, ignore_index, label_smoothing, c)
        if _by_columns(x):
            _pick(columns.cross_entropy_forward, x.size)(xc, t, *scalars, loss, stats)
        else:
            _pick(_ce_fwd, x.size)(xc.reshape(m, c), t.reshape(m), *scalars, loss.reshape(m),
                                   stats.reshape(m, 2))
    return loss.astype(x.dtype, copy=False), stats


def cross_entropy_backward(grad_loss, x, target, stats, weight, ignore_index, label_smoothing):
    """d(sum_i grad_loss_i * loss_i) / dx for cross_entropy_forward's loss, in one pass over x:
    grad_loss_i * ((1 - eps) w_t + eps W / C) softmax(x_i) - eps / C * w - [c == t] (1 - eps) w_t),
    zero rows where target == ignore_index."""
    m, c = shapes.check_cross_entropy_backward("cross_entropy_backward", grad_loss, x, target, stats, weight)
    xc = _compute(x)
    gx = np.empty_like(xc)
    if x.size:
        t = np.ascontiguousarray(target, dtype=np.int64)
        gl, st = _compute(grad_loss), np.ascontiguousarray(stats)
        scalars = _ce_scalars(xc, weight, ignore_index, label_smoothing, c)
        if _by_columns(x):
            _pick(columns.cross_entropy_backward, x.size)(gl, xc, t, st, *scalars, gx)
        else:
            _pick(_ce_bwd, x.size)(gl.reshape(m), xc.reshape(m, c), t.reshape(m), st.reshape(m, 2), *scalars,
                                   gx.reshape(m, c))
    return gx.astype(x.dtype, copy=False)
