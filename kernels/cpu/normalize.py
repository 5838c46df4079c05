"""batch/instance/layer/group norm on the CPU: kernels/_normalize.py's array maths on NumPy, and batch
norm's layout in Numba loops.

Batch norm views x as (N, C, L) and takes statistics per channel over axes (0, 2), which NumPy reduces
slowly (strided axes) and in many passes: its backward made ~10 passes over the data and temporaries.
The loops take each channel's N runs of L elements (a channel of a 32x64x32x32 batch is 128 KiB, in L2)
through two passes forward (mean, then the variance of x - mean, both summed in float64) plus one that
writes y, and two backward (the sums of g and g * xhat, then the input gradient), xhat recomputed from x
each time: forward keeps the input, not an xhat array, as PyTorch does (in the ResNet-style training step
the two batch norms' forward had written 16 MB of fresh memory each: page faults in the step 3,420 ->
~1,520, in their forward 2,068 -> 516; the step's ratio to PyTorch 0.68 -> 0.76, medians of 3-4 runs
of examples/benchmark.py). Channels are split over two threads from 2**17 elements
(kernels/cpu/_serial.py's ``by_size``): on the ResNet-style benchmark's (32, 64, 32, 32) float32 batch,
forward 0.95 -> 0.50 ms and backward 0.92 -> 0.44 ms in a loop (data in cache).

Layer, instance and group norm take statistics per row of a view of x, and NumPy's maths (about ten
passes with temporaries) took 2.8-7x PyTorch's time for them. Their loops take one row at a time (in
cache): the mean, the variance of x - mean, then y; backward sums g * weight and g * weight * xhat over the
row, then writes the input gradient. Layer norm's rows, (M, K), have a weight and bias per column: their
gradients (column sums over every row) gather in partial sums of a fixed number of row blocks (the same
sums on any number of threads), added in float64 at the end. Instance norm's rows (N * C of L elements)
and group norm's (N * G of C / G channels of L elements) are made of segments with one weight each: the
sums of g and g * xhat per segment are kept, then summed over the samples. Two threads, float32, in a
loop, ms, before / after / PyTorch: LayerNorm(128) on (32, 64, 128) forward 0.55 / 0.07 / 0.11, forward
and backward 2.05 / 0.25 / 0.26; GroupNorm(8, 64) on (16, 64, 32, 32) forward 1.49 / 0.37 / 0.29 and
7.1 / 1.85 / 1.47; InstanceNorm2d(64) 1.58 / 0.34 / 1.31 and 6.1 / 1.32 / 2.68.
"""
import numpy as np
from numba import prange
from numba.extending import register_jitable

from kernels import _normalize
from kernels.cpu._serial import by_size

__all__ = ["normalize_forward", "normalize_backward"]


@by_size(fastmath={"reassoc", "contract"})
def _batch_forward(x, weight, bias, eps, mean, var, invstd, y, batch_stats):
    N, C, L = x.shape
    count = N * L
    for c in prange(C):
        if batch_stats:
            s = 0.0
            for n in range(N):
                for i in range(L):
                    s += x[n, c, i]
            m = s / count
            s = 0.0
            for n in range(N):
                for i in range(L):
                    d = x[n, c, i] - m
                    s += d * d
            mean[c] = m
            var[c] = s / count
        invstd[c] = 1.0 / np.sqrt(var[c] + eps)
        mc, ic, wc, bc = mean[c], invstd[c], weight[c], bias[c]  # in x's dtype
        for n in range(N):
            for i in range(L):
                y[n, c, i] = (x[n, c, i] - mc) * ic * wc + bc


@by_size(fastmath={"reassoc", "contract"})
def _batch_backward(g, x, mean, invstd, weight, gx, gw, gb, need_x, batch_stats, scratch):
    N, C, L = g.shape
    count = N * L
    for c in prange(C):
        mc, ic = mean[c], invstd[c]
        sg = 0.0
        sgh = 0.0
        for n in range(N):
            for i in range(L):
                gv = g[n, c, i]
                sg += gv
                sgh += gv * ((x[n, c, i] - mc) * ic)
        gw[c] = sgh
        gb[c] = sg
        if not need_x:
            continue
        # through scratch (one row per channel): the three constants in g's dtype
        scratch[c, 0] = ic * weight[c]
        scratch[c, 1] = sg / count if batch_stats else 0.0
        scratch[c, 2] = sgh / count if batch_stats else 0.0
        k, mg, mgh = scratch[c, 0], scratch[c, 1], scratch[c, 2]
        for n in range(N):
            for i in range(L):
                gx[n, c, i] = k * (g[n, c, i] - mg - (x[n, c, i] - mc) * ic * mgh)


# Batch norm of (N, C) (BatchNorm1d on features: L = 1): the loops above would read one value per channel
# per row, strided by C and scalar; these go row by row over a block of channels, vectorised along it, the
# blocks on the threads. The same sums in the same order per channel (float64 accumulators).
_CHANNEL_BLOCK = 64


@by_size(fastmath={"reassoc", "contract"})
def _features_forward(x, weight, bias, eps, mean, var, invstd, y, batch_stats):
    N, C = x.shape
    for b in prange((C + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK):
        lo = b * _CHANNEL_BLOCK
        hi = min(lo + _CHANNEL_BLOCK, C)
        if batch_stats:
            s = np.zeros(hi - lo)
            for n in range(N):
                xr = x[n, lo:hi]
                for j in range(s.size):
                    s[j] += xr[j]
            m = s / N
            s[:] = 0.0
            for n in range(N):
                xr = x[n, lo:hi]
                for j in range(s.size):
                    d = xr[j] - m[j]
                    s[j] += d * d
            mean[lo:hi] = m
            var[lo:hi] = s / N
        for c in range(lo, hi):
            invstd[c] = 1.0 / np.sqrt(var[c] + eps)
        mc, ic, wc, bc = mean[lo:hi], invstd[lo:hi], weight[lo:hi], bias[lo:hi]  # in x's dtype
        for n in range(N):
            xr = x[n, lo:hi]
            yr = y[n, lo:hi]
            for j in range(yr.size):
                yr[j] = (xr[j] - mc[j]) * ic[j] * wc[j] + bc[j]


@by_size(fastmath={"reassoc", "contract"})
def _features_backward(g, x, mean, invstd, weight, gx, gw, gb, need_x, batch_stats, scratch):
    N, C = g.shape
    for b in prange((C + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK):
        lo = b * _CHANNEL_BLOCK
        hi = min(lo + _CHANNEL_BLOCK, C)
        mc, ic = mean[lo:hi], invstd[lo:hi]
        sg = np.zeros(hi - lo)
        sgh = np.zeros(hi - lo)
        for n in range(N):
            gr = g[n, lo:hi]
            xr = x[n, lo:hi]
            for j in range(sg.size):
                sg[j] += gr[j]
                sgh[j] += gr[j] * ((xr[j] - mc[j]) * ic[j])
        gw[lo:hi] = sgh
        gb[lo:hi] = sg
        if not need_x:
            continue
        # through scratch (one row per constant): the three constants in g's dtype
        for j in range(sg.size):
            scratch[0, lo + j] = ic[j] * weight[lo + j]
            scratch[1, lo + j] = sg[j] / N if batch_stats else 0.0
            scratch[2, lo + j] = sgh[j] / N if batch_stats else 0.0
        k, mg, mgh = scratch[0, lo:hi], scratch[1, lo:hi], scratch[2, lo:hi]
        for n in range(N):
            gr = g[n, lo:hi]
            xr = x[n, lo:hi]
            out = gx[n, lo:hi]
            for j in range(out.size):
                out[j] = k[j] * (gr[j] - mg[j] - (xr[j] - mc[j]) * ic[j] * mgh[j])


@register_jitable(fastmath={"reassoc", "contract"})
def _moments(row, zero):
    """(mean, biased variance) of a contiguous row: two passes, the second over row - mean (in cache)."""
    s = zero
    for j in range(row.size):
        s += row[j]
    m = s / row.size
    s = zero
    for j in range(row.size):
        d = row[j] - m
        s += d * d
    return m, s / row.size


@by_size(cost=2, fastmath={"reassoc", "contract"})
def _row_forward(x, weight, bias, eps, mean, var, invstd, y, zero, one):
    M, K = x.shape
    for r in prange(M):
        row = x[r]
        mean[r], var[r] = _moments(row, zero)
        invstd[r] = one / np.sqrt(var[r] + eps)
        mr, ir = mean[r], invstd[r]
        out = y[r]
        for j in range(K):
            out[j] = (row[j] - mr) * ir * weight[j] + bias[j]


_ROW_BLOCKS = 16  # the weight and bias gradients' partial sums: one per block of rows


@by_size(cost=3, fastmath={"reassoc", "contract"})
def _row_backward(g, x, mean, invstd, weight, gx, gw_parts, gb_parts, need_x, zero):
    M, K = g.shape
    blocks = gw_parts.shape[0]
    for blk in prange(blocks):
        gw, gb = gw_parts[blk], gb_parts[blk]
        for r in range(blk * M // blocks, (blk + 1) * M // blocks):
            mr, ir = mean[r], invstd[r]
            grow, xrow = g[r], x[r]
            sgh = zero
            sghx = zero
            for j in range(K):
                gv = grow[j]
                xh = (xrow[j] - mr) * ir
                gw[j] += gv * xh
                gb[j] += gv
                gh = gv * weight[j]
                sgh += gh
                sghx += gh * xh
            if need_x:
                a, b = sgh / K, sghx / K
                out = gx[r]
                for j in range(K):
                    out[j] = ir * (grow[j] * weight[j] - a - (xrow[j] - mr) * ir * b)


@by_size(cost=2, fastmath={"reassoc", "contract"})
def _segment_forward(x, weight, bias, P, S, eps, mean, var, invstd, y, zero, one):
    # x, y: (R, K) rows of S segments of L = K / S elements; statistics per row, weight and bias per
    # (r % P, segment), flat
    R, K = x.shape
    L = K // S
    for r in prange(R):
        row = x[r]
        mean[r], var[r] = _moments(row, zero)
        invstd[r] = one / np.sqrt(var[r] + eps)
        mr, ir = mean[r], invstd[r]
        for seg in range(S):
            p = r % P * S + seg
            k, c = ir * weight[p], bias[p]
            src, out = row[seg * L:(seg + 1) * L], y[r, seg * L:(seg + 1) * L]  # (a loop over range(start,
            for j in range(L):  # stop) would not vectorise)
                out[j] = (src[j] - mr) * k + c


@by_size(cost=3, fastmath={"reassoc", "contract"})
def _segment_backward(g, x, mean, invstd, weight, P, S, gx, seg_g, seg_gx, need_x, zero):
    # per segment the sums of g and g * xhat (the parameters' gradients, summed over samples after), per
    # row those of g * weight and g * weight * xhat; then the input gradient
    R, K = g.shape
    L = K // S
    for r in prange(R):
        mr, ir = mean[r], invstd[r]
        sgh = zero
        sghx = zero
        for seg in range(S):
            gs, xs = g[r, seg * L:(seg + 1) * L], x[r, seg * L:(seg + 1) * L]
            a = zero
            b = zero
            for j in range(L):
                gv = gs[j]
                a += gv
                b += gv * ((xs[j] - mr) * ir)
            seg_g[r, seg] = a
            seg_gx[r, seg] = b
            w = weight[r % P * S + seg]
            sgh += w * a
            sghx += w * b
        if need_x:
            a, b = sgh / K, sghx / K
            for seg in range(S):
                w = weight[r % P * S + seg]
                gs, xs = g[r, seg * L:(seg + 1) * L], x[r, seg * L:(seg + 1) * L]
                out = gx[r, seg * L:(seg + 1) * L]
                for j in range(L):
                    out[j] = ir * (gs[j] * w - a - (xs[j] - mr) * ir * b)


def _segment_layout(x, axes, param_shape, *others):
    """(P, S) where the segment loops apply, else None: float32/64 C-contiguous instance norm, (N, C, L)
    with statistics over axis 2 (P = C parameter rows of S = 1), or group norm, (N, G, C / G, L) over axes
    (2, 3) (P = G of S = C / G channels, each a segment of L elements)."""
    if not (x.dtype in (np.float32, np.float64) and x.size
            and all(a.dtype == x.dtype and a.flags.c_contiguous for a in (x,) + others)):
        return None
    axes, param_shape = tuple(axes), tuple(param_shape)
    if x.ndim == 3 and axes == (2,) and param_shape == (1, x.shape[1], 1):
        return x.shape[1], 1
    if x.ndim == 4 and axes == (2, 3) and param_shape == (1, x.shape[1], x.shape[2], 1):
        return x.shape[1], x.shape[2]
    return None


def _row_layout(x, axes, param_shape, *others):
    """True where the row loops apply (layer norm): float32/64 C-contiguous (M, K) arrays, statistics over
    axis 1, parameters per column."""
    return (x.ndim == 2 and tuple(axes) == (1,) and tuple(param_shape) == (1, x.shape[1])
            and x.dtype in (np.float32, np.float64) and x.shape[1] > 0
            and all(a.dtype == x.dtype and a.flags.c_contiguous for a in (x,) + others))


def _batch_layout(x, axes, param_shape, *others):
    """True where the loops apply: float32/64 C-contiguous (N, C, L) arrays, statistics over (0, 2)."""
    return (x.ndim == 3 and tuple(axes) == (0, 2) and tuple(param_shape) == (1, x.shape[1], 1)
            and x.dtype in (np.float32, np.float64)
            and all(a.dtype == x.dtype and a.flags.c_contiguous for a in (x,) + others))


def _features(a):
    """(N, C, 1) as (N, C), for the _features_* loops."""
    return a.reshape(a.shape[0], a.shape[1])


def _per_channel(a, C, dtype, fill):
    return np.full(C, fill, dtype=dtype) if a is None else np.ascontiguousarray(a.reshape(C), dtype=dtype)


def normalize_forward(x, weight, bias, axes, param_shape, eps, fixed):
    """See kernels._normalize.normalize_forward."""
    if fixed is None and _row_layout(x, axes, param_shape):
        M, K = x.shape
        t = x.dtype.type
        (mean, var, invstd), y = (np.empty(M, x.dtype) for _ in range(3)), np.empty_like(x)
        _row_forward(x, _per_channel(weight, K, x.dtype, 1), _per_channel(bias, K, x.dtype, 0), t(eps), mean,
                     var, invstd, y, t(0), t(1))
        return y, mean.reshape(M, 1), var.reshape(M, 1), invstd.reshape(M, 1)
    segments = _segment_layout(x, axes, param_shape) if fixed is None else None
    if segments:
        P, S = segments
        rows = x.reshape(-1, x[0, 0].size)  # (N * P, S * L)
        t = x.dtype.type
        (mean, var, invstd), y = (np.empty(rows.shape[0], x.dtype) for _ in range(3)), np.empty_like(rows)
        _segment_forward(rows, _per_channel(weight, P * S, x.dtype, 1), _per_channel(bias, P * S, x.dtype, 0),
                         P, S, t(eps), mean, var, invstd, y, t(0), t(1))
        stats = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return y.reshape(x.shape), mean.reshape(stats), var.reshape(stats), invstd.reshape(stats)
    if not _batch_layout(x, axes, param_shape):
        return _normalize.normalize_forward(np, x, weight, bias, axes, param_shape, eps, fixed)
    C, dtype = x.shape[1], x.dtype
    if fixed is None:
        mean, var = np.empty(C, dtype), np.empty(C, dtype)
    else:
        mean, var = (np.array(np.broadcast_to(a, param_shape).reshape(C), dtype) for a in fixed)  # copies
    invstd, y = np.empty(C, dtype), np.empty_like(x)
    features = x.shape[2] == 1
    loop, xv, yv = (_features_forward, _features(x), _features(y)) if features else (_batch_forward, x, y)
    loop(xv, _per_channel(weight, C, dtype, 1), _per_channel(bias, C, dtype, 0), float(eps), mean, var,
         invstd, yv, fixed is None)
    return y, mean.reshape(param_shape), var.reshape(param_shape), invstd.reshape(param_shape)


def normalize_backward(grad_output, x, mean, invstd, weight, axes, param_shape, batch_stats, needs):
    """See kernels._normalize.normalize_backward."""
    # a broadcast gradient (of y.sum(), say) copied, so that the loops below take it
    grad_output = np.ascontiguousarray(grad_output)
    if batch_stats and _row_layout(grad_output, axes, param_shape, x) and x.shape == grad_output.shape:
        return _row_gradients(grad_output, x, mean, invstd, weight, needs)
    segments = _segment_layout(grad_output, axes, param_shape, x) if batch_stats else None
    if segments and x.shape == grad_output.shape:
        return _segment_gradients(grad_output, x, mean, invstd, weight, param_shape, segments, needs)
    if not _batch_layout(grad_output, axes, param_shape, x):
        return _normalize.normalize_backward(np, grad_output, x, mean, invstd, weight, axes, param_shape,
                                             batch_stats, needs)
    need_x, need_w, need_b = needs
    C, dtype = grad_output.shape[1], grad_output.dtype
    gx = np.empty_like(grad_output) if need_x else np.empty((1, 1, 1), dtype)
    gw, gb = np.empty(C, dtype), np.empty(C, dtype)
    per_channel = (_per_channel(mean, C, dtype, 0), _per_channel(invstd, C, dtype, 1),
                   _per_channel(weight, C, dtype, 1))
    if grad_output.shape[2] == 1:
        _features_backward(_features(grad_output), _features(x), *per_channel, _features(gx), gw, gb, need_x,
                           batch_stats, np.empty((3, C), dtype))
    else:
        _batch_backward(grad_output, x, *per_channel, gx, gw, gb, need_x, batch_stats,
                        np.empty((C, 3), dtype))
    return (gx if need_x else None, gw.reshape(param_shape) if need_w else None,
            gb.reshape(param_shape) if need_b else None)


def _row_gradients(g, x, mean, invstd, weight, needs):
    """normalize_backward for the row layout (layer norm)."""
    need_x, need_w, need_b = needs
    M, K = g.shape
    gx = np.empty_like(g) if need_x else np.empty((1, 1), g.dtype)
    blocks = max(1, min(_ROW_BLOCKS, M))
    gw_parts, gb_parts = np.zeros((blocks, K), g.dtype), np.zeros((blocks, K), g.dtype)
    _row_backward(g, x, _per_channel(mean, M, g.dtype, 0), _per_channel(invstd, M, g.dtype, 1),
                  _per_channel(weight, K, g.dtype, 1), gx, gw_parts, gb_parts, need_x, g.dtype.type(0))
    gw = gw_parts.sum(axis=0, dtype=np.float64).astype(g.dtype).reshape(1, K) if need_w else None
    gb = gb_parts.sum(axis=0, dtype=np.float64).astype(g.dtype).reshape(1, K) if need_b else None
    return (gx if need_x else None), gw, gb


def _segment_gradients(g, x, mean, invstd, weight, param_shape, segments, needs):
    """normalize_backward for the segment layouts (instance and group norm)."""
    need_x, need_w, need_b = needs
    P, S = segments
    rows, xr = g.reshape(-1, g[0, 0].size), x.reshape(-1, x[0, 0].size)  # (N * P, S * L)
    R, dtype = rows.shape[0], g.dtype
    gx = np.empty_like(rows) if need_x else np.empty((1, 1), dtype)
    seg_g, seg_gx = np.empty((R, S), dtype), np.empty((R, S), dtype)
    _segment_backward(rows, xr, _per_channel(mean, R, dtype, 0), _per_channel(invstd, R, dtype, 1),
                      _per_channel(weight, P * S, dtype, 1), P, S, gx, seg_g, seg_gx, need_x, dtype.type(0))
    gw = seg_gx.reshape(-1, P * S).sum(axis=0, dtype=np.float64).astype(dtype).reshape(param_shape)
    gb = seg_g.reshape(-1, P * S).sum(axis=0, dtype=np.float64).astype(dtype).reshape(param_shape)
    return (gx.reshape(g.shape) if need_x else None), (gw if need_w else None), (gb if need_b else None)
