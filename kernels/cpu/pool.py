"""Pooling kernels (CPU): direct Numba loops, parallel over (N*C) planes or output rows.

Arrays are NCHW. Forward kernels walk each output's window once, writing y (and max's indices) in
the same pass; backward kernels scatter one plane per thread (a plane is owned by one thread, so
no two threads ever add into the same element). 2x2 stride-2 windows with no padding have fast
paths (the common CNN case). float16 is computed in float32 and cast back.
The per-element maths (window bounds, divisors, the max rule, window sums accumulated in the array's
dtype) is kernels/_pool_math.py, shared with kernels.cuda and inlined into the loops here; the fast paths
compute the same numbers as the general loops. Shapes and arguments are validated by
kernels._pool_shapes before any kernel runs.
"""
import numpy as np
from numba import int32, njit, prange, uint64

from kernels import _pool_math
from kernels import _pool_shapes as shapes
from kernels._shared_jit import cached_as, compile_functions
from kernels.cpu._serial import serial_below, serial_twin

# reassociation only (no nnan/ninf): lets LLVM vectorise plain sums, NaN and inf still propagate
_REASSOC = {"reassoc"}

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
]


_P = compile_functions(_pool_math, njit(inline="always"))  # the per-element maths, inlined into the loops


def _kernel(fn):
    """A parallel kernel using _P; its cache entries go stale when kernels/_pool_math.py changes."""
    return njit(parallel=True, cache=True)(cached_as(fn, _pool_math))


# ---------------------------------------------------------------------------------------------
# max pooling

@_kernel
def _max_fwd(x, y, ind, kh, kw, sh, sw, ph, pw, dh, dw, oh_lo, oh_hi, ow_lo, ow_hi):
    # Outputs in [oh_lo, oh_hi) x [ow_lo, ow_hi) have their whole window inside the input (computed
    # on the host): a tight loop without bounds arithmetic, compare-and-select instead of branches
    # (random data mispredicts them). Border outputs take the clipped path.
    planes, height, width = x.shape
    ho_n, wo_n = y.shape[1], y.shape[2]
    xf = x.reshape(-1)
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        h0 = oh * sh - ph
        interior = oh_lo <= oh < oh_hi
        for ow in range(wo_n):
            w0 = ow * sw - pw
            if interior and ow_lo <= ow < ow_hi:
                best = x[p, h0, w0]
                arg = h0 * width + w0
                for i in range(kh):
                    h = h0 + i * dh
                    for j in range(kw):
                        w = w0 + j * dw
                        v = x[p, h, w]
                        take = _P.takes(v, best)
                        best = v if take else best
                        arg = (h * width + w) if take else arg
                y[p, oh, ow] = best
                ind[p, oh, ow] = arg
            else:
                best, arg = _P.max_window(xf, p * height * width, height, width, h0, w0, kh, kw, dh, dw)
                y[p, oh, ow] = best
                ind[p, oh, ow] = arg


@_kernel
def _max_fwd_2x2(x, y, ind):
    planes, height, width = x.shape
    ho_n, wo_n = y.shape[1], y.shape[2]
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        r0 = 2 * oh
        r1 = r0 + 1
        for ow in range(wo_n):
            c0 = 2 * ow
            best = x[p, r0, c0]
            arg = r0 * width + c0
            v = x[p, r0, c0 + 1]
            if _P.takes(v, best):
                best = v
                arg = r0 * width + c0 + 1
            v = x[p, r1, c0]
            if _P.takes(v, best):
                best = v
                arg = r1 * width + c0
            v = x[p, r1, c0 + 1]
            if _P.takes(v, best):
                best = v
                arg = r1 * width + c0 + 1
            y[p, oh, ow] = best
            ind[p, oh, ow] = arg


@_kernel
def _max_fwd_3x3s2p1(x, y, ind):
    # kernel 3, stride 2, padding 1 (the ResNet stem) with ho = ceil(H/2) and wo = ceil(W/2), so every
    # window holds an input tap (checked on the host). Separable: a row pass takes the 3-tap max (and
    # its index) of every input row at every output column into per-plane scratch, then a column pass
    # takes the max of the window's 2-3 row results. Row-then-column with strict > picks the same tap
    # as the row-major scan (first max; the last NaN).
    # The row pass reads the plane as rows of exactly 2*wo elements, so row pass output j = h*wo + k
    # has its taps at flat 2j-1, 2j, 2j+1: one loop over the whole plane, which LLVM vectorises (loops
    # over the wo outputs of one row measured 5x slower on 32x32 planes). An odd width is first copied
    # into rows of width + 1 ending in -inf, a tap strict > never takes. Column 0, whose left tap is
    # padding, is redone after.
    planes, height, width = x.shape
    ho_n, wo_n = y.shape[1], y.shape[2]
    n = height * wo_n
    extra = 2 * wo_n - width  # 1 for an odd width
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    indf = ind.reshape(-1)
    for p in prange(planes):
        # constants made here, not outside the prange loop: those become runtime arguments of the
        # parallel body, and an unknown `two * j` stride measured 3x slower
        one = uint64(1)
        two = uint64(2)
        row_max = np.empty(n, dtype=x.dtype)
        row_arg = np.empty(n, dtype=np.int32)  # flat index in the plane of (2 * wo_n)-wide rows
        if extra:
            src = np.empty(2 * n, dtype=x.dtype)
            for h in range(height):
                row = (p * height + h) * width
                src[2 * wo_n * h:2 * wo_n * h + width] = xf[row:row + width]
                src[2 * wo_n * h + width] = -np.inf
            base = uint64(0)
        else:
            src = xf
            base = uint64(p) * uint64(height * width)
        for j in range(one, uint64(n)):
            c = base + two * j
            best = src[c - one]
            arg = int32(2 * j - 1)
            v = src[c]
            t = _P.takes(v, best)
            best = v if t else best
            arg = int32(2 * j) if t else arg
            v = src[c + one]
            t = _P.takes(v, best)
            row_max[j] = v if t else best
            row_arg[j] = int32(2 * j + 1) if t else arg
        for h in range(height):
            j = h * wo_n
            c = base + uint64(2 * j)
            best = src[c]
            v = src[c + one]
            t = _P.takes(v, best)
            row_max[j] = v if t else best
            row_arg[j] = int32(2 * j + 1) if t else int32(2 * j)
        out = uint64(p) * uint64(ho_n * wo_n)
        uwo = uint64(wo_n)
        for oh in range(ho_n):
            o0 = out + uint64(oh) * uwo
            lo = max(2 * oh - 1, 0)
            a0 = uint64(lo) * uwo
            for k in range(uwo):
                yf[o0 + k] = row_max[a0 + k]
                indf[o0 + k] = row_arg[a0 + k] - lo * extra  # -> h * width + w
            for r in range(lo + 1, min(2 * oh + 2, height)):
                a = uint64(r) * uwo
                for k in range(uwo):
                    v = row_max[a + k]
                    t = _P.takes(v, yf[o0 + k])
                    yf[o0 + k] = v if t else yf[o0 + k]
                    indf[o0 + k] = (row_arg[a + k] - r * extra) if t else indf[o0 + k]


@njit(parallel=True, cache=True)
def _max_bwd(gy, ind, gx):
    planes, plane_size = gx.shape
    m = gy.shape[1]
    for p in prange(planes):
        for t in range(plane_size):
            gx[p, t] = 0
        for k in range(m):
            t = ind[p, k]
            # out-of-plane indices only come from all-padding windows (whose output is -inf): skip
            if 0 <= t < plane_size:
                gx[p, t] += gy[p, k]


# ---------------------------------------------------------------------------------------------
# average pooling: divisor is divisor_override, else the window clipped to the padded input
# (count_include_pad) or to the input itself

@_kernel
def _avg_fwd(x, y, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    planes, height, width = x.shape
    ho_n, wo_n = y.shape[1], y.shape[2]
    xf = x.reshape(-1)
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        for ow in range(wo_n):
            y[p, oh, ow] = _P.avg_pool_at(xf, p * height * width, height, width, oh, ow, kh, kw, sh, sw, ph,
                                          pw, include_pad, divisor)


@_kernel
def _avg_fwd_2x2(x, y, scale):
    # full 2x2 windows (divisor 4 unless overridden), the general kernel's numbers: the same sum, and
    # scale = 1/divisor, exact for the power-of-two divisors this path takes (_exact_reciprocal)
    planes = x.shape[0]
    ho_n, wo_n = y.shape[1], y.shape[2]
    zero = x.dtype.type(0)
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        r0 = 2 * oh
        for ow in range(wo_n):
            c0 = 2 * ow
            s = _P.sum_2x2(zero, x[p, r0, c0], x[p, r0, c0 + 1], x[p, r0 + 1, c0], x[p, r0 + 1, c0 + 1])
            y[p, oh, ow] = s * scale


@_kernel
def _avg_bwd(gy, gx, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    planes, height, width = gx.shape
    ho_n, wo_n = gy.shape[1], gy.shape[2]
    for p in prange(planes):
        for h in range(height):
            for w in range(width):
                gx[p, h, w] = 0
        for oh in range(ho_n):
            hs, he, hpad = _P.avg_window(oh, sh, ph, kh, height)
            for ow in range(wo_n):
                ws, we, wpad = _P.avg_window(ow, sw, pw, kw, width)
                # _P.avg_share, with the window already at hand
                g = gy[p, oh, ow] / _P.avg_divisor(hs, he, hpad, ws, we, wpad, include_pad, divisor, gy)
                for h in range(hs, he):
                    for w in range(ws, we):
                        gx[p, h, w] += g


@_kernel
def _avg_bwd_2x2(gy, gx, scale):
    planes, height, width = gx.shape
    ho_n, wo_n = gy.shape[1], gy.shape[2]
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        r0 = 2 * oh
        for ow in range(wo_n):
            g = gy[p, oh, ow] * scale  # _P.avg_share of a full window: scale = 1/divisor, exact
            c0 = 2 * ow
            gx[p, r0, c0] = g
            gx[p, r0, c0 + 1] = g
            gx[p, r0 + 1, c0] = g
            gx[p, r0 + 1, c0 + 1] = g
        for c in range(2 * wo_n, width):  # odd width: the last column is in no window
            gx[p, r0, c] = 0
            gx[p, r0 + 1, c] = 0
        if oh == ho_n - 1:  # odd height: the last row is in no window
            for h in range(2 * ho_n, height):
                for c in range(width):
                    gx[p, h, c] = 0


# ---------------------------------------------------------------------------------------------
# adaptive average pooling: window i spans [floor(i*H/Ho), ceil((i+1)*H/Ho))

@_kernel
def _adaptive_fwd(x, y):
    planes, height, width = x.shape
    ho_n, wo_n = y.shape[1], y.shape[2]
    xf = x.reshape(-1)
    for row in prange(planes * ho_n):
        p = row // ho_n
        oh = row - p * ho_n
        for ow in range(wo_n):
            y[p, oh, ow] = _P.adaptive_pool_at(xf, p * height * width, height, width, oh, ow, ho_n, wo_n)


@_kernel
def _adaptive_bwd(gy, gx):
    planes, height, width = gx.shape
    ho_n, wo_n = gy.shape[1], gy.shape[2]
    for p in prange(planes):
        for h in range(height):
            for w in range(width):
                gx[p, h, w] = 0
        for oh in range(ho_n):
            hs, he = _P.adaptive_window(oh, height, ho_n)
            for ow in range(wo_n):
                ws, we = _P.adaptive_window(ow, width, wo_n)
                g = _P.adaptive_mean(gy[p, oh, ow], hs, he, ws, we, gy)  # _P.adaptive_share
                for h in range(hs, he):
                    for w in range(ws, we):
                        gx[p, h, w] += g


@njit(parallel=True, cache=True, fastmath=_REASSOC)
def _global_mean_fwd(x, y, zero):
    # x (planes, H*W) -> y (planes,): global average pooling, the adaptive 1x1 case
    planes, m = x.shape
    for p in prange(planes):
        acc = zero
        for t in range(m):
            acc += x[p, t]
        y[p] = acc / m


@njit(parallel=True, cache=True)
def _global_mean_bwd(gy, gx):
    planes, m = gx.shape
    for p in prange(planes):
        g = gy[p] / m
        for t in range(m):
            gx[p, t] = g


# Global average pooling below GLOBAL_SERIAL_BELOW elements runs on the calling thread; None: 2**20 under
# the workqueue layer (on (32, 512, 4, 4) serial ~20 us against ~95 us with the pool), 2**14 under TBB
# (the pool measured 19 us there against 26 us serial). See kernels/cpu/_serial.py.
GLOBAL_SERIAL_BELOW = None
_global_mean_fwd_serial = serial_twin(_global_mean_fwd, fastmath=_REASSOC)
_global_mean_bwd_serial = serial_twin(_global_mean_bwd)


def _global_serial_below():
    return GLOBAL_SERIAL_BELOW if GLOBAL_SERIAL_BELOW is not None else serial_below(1 << 20, 1 << 14)


# ---------------------------------------------------------------------------------------------
# launchers

def _compute_dtype(a):
    # float16 runs through the float32 kernels (no half arithmetic on the CPU)
    return np.dtype(np.float32) if a.dtype == np.float16 else np.dtype(a.dtype)


def _planes(a, dtype):
    """C-contiguous (N*C, H, W) view/copy of a 4-D array in the compute dtype."""
    a = np.ascontiguousarray(a, dtype=dtype)
    n, c, h, w = a.shape
    return a.reshape(n * c, h, w)


def _interior(size, out, kernel, stride, pad, dilation):
    """Range [lo, hi) of outputs whose whole window lies inside [0, size) on one axis."""
    lo = -(-pad // stride)
    hi = min(out, (size - 1 + pad - (kernel - 1) * dilation) // stride + 1)
    return lo, max(lo, hi)


def _is_2x2(kernel_size, stride, padding, dilation, in_hw, out_hw):
    return (kernel_size == (2, 2) and stride == (2, 2) and padding == (0, 0) and dilation == (1, 1)
            and 2 * out_hw[0] <= in_hw[0] and 2 * out_hw[1] <= in_hw[1])


def _exact_reciprocal(divisor):
    # x * (1/d) rounds to x / d exactly when d is a power of two (1/d is exact): the 2x2 average fast
    # paths multiply, as they did, and still give the general kernels' numbers (a division measured
    # 5% slower there); other divisor_override values take the general kernels
    return divisor > 0 and (divisor & (divisor - 1)) == 0


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Max over each window -> (y, indices); indices are flat h*W + w in the input plane (int64)."""
    k, s, p, d, out_shape = shapes.max_pool2d_args(x, kernel_size, stride, padding, dilation, ceil_mode)
    dtype = _compute_dtype(x)
    xp3 = _planes(x, dtype)
    n, c, ho, wo = out_shape
    h, w = x.shape[2:]
    y = np.empty((n * c, ho, wo), dtype=dtype)
    ind = np.empty((n * c, ho, wo), dtype=np.int64)
    if _is_2x2(k, s, p, d, x.shape[2:], (ho, wo)):
        _max_fwd_2x2(xp3, y, ind)
    elif ((k, s, p, d) == ((3, 3), (2, 2), (1, 1), (1, 1)) and (ho, wo) == ((h + 1) // 2, (w + 1) // 2)
          and h * (w + 1) < 2**31):
        _max_fwd_3x3s2p1(xp3, y, ind)  # not with ceil_mode's extra window on an even size
    else:
        oh_lo, oh_hi = _interior(x.shape[2], ho, k[0], s[0], p[0], d[0])
        ow_lo, ow_hi = _interior(x.shape[3], wo, k[1], s[1], p[1], d[1])
        _max_fwd(xp3, y, ind, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], oh_lo, oh_hi, ow_lo, ow_hi)
    return y.reshape(out_shape).astype(x.dtype, copy=False), ind.reshape(out_shape)


def max_pool2d_backward(grad_y, indices, x_shape):
    """grad_x: grad_y scatter-added into each input plane at indices (overlapping windows sum)."""
    x_shape = shapes.max_pool2d_backward_args(grad_y, indices, x_shape)
    n, c, h, w = x_shape
    dtype = _compute_dtype(grad_y)
    m = grad_y.shape[2] * grad_y.shape[3]
    gy = np.ascontiguousarray(grad_y, dtype=dtype).reshape(n * c, m)
    ind = np.ascontiguousarray(indices).reshape(n * c, m)
    gx = np.empty((n * c, h * w), dtype=dtype)
    _max_bwd(gy, ind, gx)
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Mean over each window (divisor: divisor_override, else the window with or without padding)."""
    op = "avg_pool2d_forward"
    shapes.check_pool_input(x, op)
    k, s, p, divisor, out_shape = shapes.avg_pool2d_args(op, x.shape, kernel_size, stride, padding,
                                                          ceil_mode, divisor_override)
    dtype = _compute_dtype(x)
    xp3 = _planes(x, dtype)
    n, c, ho, wo = out_shape
    y = np.empty((n * c, ho, wo), dtype=dtype)
    if _is_2x2(k, s, p, (1, 1), x.shape[2:], (ho, wo)) and _exact_reciprocal(divisor or 4):
        _avg_fwd_2x2(xp3, y, dtype.type(1 / (divisor or 4)))
    else:
        _avg_fwd(xp3, y, k[0], k[1], s[0], s[1], p[0], p[1], bool(count_include_pad), divisor)
    return y.reshape(out_shape).astype(x.dtype, copy=False)


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    """grad_x: each grad_y element divided by its window's divisor, added over the window."""
    op = "avg_pool2d_backward"
    x_shape = shapes.check_x_shape(op, x_shape)
    shapes.check_ndim4(grad_y, "grad_y", op)
    k, s, p, divisor, out_shape = shapes.avg_pool2d_args(op, x_shape, kernel_size, stride, padding,
                                                          ceil_mode, divisor_override)
    shapes.check_grad(op, grad_y, out_shape)
    n, c, h, w = x_shape
    dtype = _compute_dtype(grad_y)
    gy = _planes(grad_y, dtype)
    gx = np.empty((n * c, h, w), dtype=dtype)
    if _is_2x2(k, s, p, (1, 1), (h, w), out_shape[2:]) and _exact_reciprocal(divisor or 4):
        _avg_bwd_2x2(gy, gx, dtype.type(1 / (divisor or 4)))
    else:
        _avg_bwd(gy, gx, k[0], k[1], s[0], s[1], p[0], p[1], bool(count_include_pad), divisor)
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)


def adaptive_avg_pool2d_forward(x, output_size):
    """Mean over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)) on each axis."""
    ho, wo = shapes.adaptive_avg_pool2d_args(x, output_size)
    n, c = x.shape[:2]
    dtype = _compute_dtype(x)
    y = np.empty((n * c, ho, wo), dtype=dtype)
    if (ho, wo) == (1, 1):
        h, w = x.shape[2:]
        planes = _planes(x, dtype).reshape(n * c, h * w)
        fwd = _global_mean_fwd_serial if planes.size < _global_serial_below() else _global_mean_fwd
        fwd(planes, y.reshape(n * c), dtype.type(0))
    else:
        _adaptive_fwd(_planes(x, dtype), y)
    return y.reshape(n, c, ho, wo).astype(x.dtype, copy=False)


def adaptive_avg_pool2d_backward(grad_y, x_shape):
    """grad_x: each grad_y element spread evenly over its adaptive window (windows may overlap)."""
    x_shape, _ = shapes.adaptive_avg_pool2d_backward_args(grad_y, x_shape)
    n, c, h, w = x_shape
    dtype = _compute_dtype(grad_y)
    gx = np.empty((n * c, h, w), dtype=dtype)
    if tuple(grad_y.shape[2:]) == (1, 1):
        bwd = _global_mean_bwd_serial if gx.size < _global_serial_below() else _global_mean_bwd
        bwd(_planes(grad_y, dtype).reshape(n * c), gx.reshape(n * c, h * w))
    else:
        _adaptive_bwd(_planes(grad_y, dtype), gx)
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)
