"""Pooling kernels (CUDA): Numba @cuda.jit direct kernels over flat C-contiguous NCHW arrays.

- forward: one thread per output element, walking its window;
- avg / adaptive backward: one thread per input element gathering from the windows that contain
  it (deterministic, no atomics);
- max backward: one thread per output element, atomically adding into grad_x at its index. The
  signature (grad_y, indices, x_shape) carries no window geometry, so an input element cannot find
  the windows that may have chosen it; atomics are the only parallel scatter. The sum is exact up to
  float rounding order, which only varies when one input element is the max of several windows
  (overlapping windows, stride < kernel); with stride >= kernel every element gets at most one add.
float16 runs through the float32 kernels. The per-element maths (window bounds, divisors, the max rule,
window sums accumulated in the array's dtype) is kernels/_pool_math.py, shared with kernels.cpu and
inlined into the kernels here. Arguments are validated by kernels._pool_shapes before any launch;
every launch goes through kernels.cuda._launch. In simulator mode, outputs are allocated NaN-filled
(indices -1) so a thread that fails to write shows up in the tests.
"""
import math

import numpy as np

from kernels import _pool_math
from kernels import _pool_shapes as shapes
from kernels.cuda._launch import SIMULATOR, cuda, device_functions, kernel, launch, require, xp

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
]

_P = device_functions(_pool_math)  # the per-element maths, inlined into the kernels


@kernel(uses=_pool_math)
def _max_fwd(x, y, ind, n, height, width, ho_n, wo_n, kh, kw, sh, sw, ph, pw, dh, dw):
    t = cuda.grid(1)
    if t >= n:
        return
    ow = t % wo_n
    r = t // wo_n
    oh = r % ho_n
    p = r // ho_n
    y[t], ind[t] = _P.max_window(x, p * height * width, height, width, oh * sh - ph, ow * sw - pw, kh, kw, dh,
                                 dw)


@kernel
def _max_bwd(gy, ind, gx, n, plane_out, plane_in):
    t = cuda.grid(1)
    if t >= n:
        return
    k = ind[t]
    # out-of-plane indices only come from all-padding windows (whose output is -inf): skip them
    if k >= 0 and k < plane_in:
        cuda.atomic.add(gx, (t // plane_out) * plane_in + k, gy[t])


@kernel(uses=_pool_math)
def _avg_fwd(x, y, n, height, width, ho_n, wo_n, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    t = cuda.grid(1)
    if t >= n:
        return
    ow = t % wo_n
    r = t // wo_n
    oh = r % ho_n
    p = r // ho_n
    y[t] = _P.avg_pool_at(x, p * height * width, height, width, oh, ow, kh, kw, sh, sw, ph, pw, include_pad,
                          divisor)


@kernel(uses=_pool_math)
def _avg_bwd(gy, gx, n, height, width, ho_n, wo_n, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    t = cuda.grid(1)
    if t >= n:
        return
    w = t % width
    r = t // width
    h = r % height
    p = r // height
    oh_lo, oh_hi = _P.avg_outputs(h, ph, kh, sh, ho_n)
    ow_lo, ow_hi = _P.avg_outputs(w, pw, kw, sw, wo_n)
    acc = gx.dtype.type(0)
    base = p * ho_n * wo_n
    for oh in range(oh_lo, oh_hi):  # in output order: the sum the CPU's scatter makes
        for ow in range(ow_lo, ow_hi):
            acc += _P.avg_share(gy, base + oh * wo_n + ow, oh, ow, height, width, kh, kw, sh, sw, ph, pw,
                                include_pad, divisor)
    gx[t] = acc


@kernel(uses=_pool_math)
def _adaptive_fwd(x, y, n, height, width, ho_n, wo_n):
    t = cuda.grid(1)
    if t >= n:
        return
    ow = t % wo_n
    r = t // wo_n
    oh = r % ho_n
    p = r // ho_n
    y[t] = _P.adaptive_pool_at(x, p * height * width, height, width, oh, ow, ho_n, wo_n)


@kernel(uses=_pool_math)
def _adaptive_bwd(gy, gx, n, height, width, ho_n, wo_n):
    t = cuda.grid(1)
    if t >= n:
        return
    w = t % width
    r = t // width
    h = r % height
    p = r // height
    oh_lo, oh_hi = _P.adaptive_outputs(h, height, ho_n)
    ow_lo, ow_hi = _P.adaptive_outputs(w, width, wo_n)
    acc = gx.dtype.type(0)
    base = p * ho_n * wo_n
    for oh in range(oh_lo, oh_hi):  # in output order: the sum the CPU's scatter makes
        for ow in range(ow_lo, ow_hi):
            acc += _P.adaptive_share(gy, base + oh * wo_n + ow, oh, ow, height, width, ho_n, wo_n)
    gx[t] = acc


# ---------------------------------------------------------------------------------------------
# launchers

def _flat(a):
    """(flat C-contiguous array in the compute dtype, compute dtype); float16 computes in float32."""
    dtype = np.dtype(np.float32) if a.dtype == np.float16 else np.dtype(a.dtype)
    return xp.ascontiguousarray(a, dtype=dtype).reshape(-1), dtype


def _output(shape, dtype, fill=math.nan):
    """Output buffer the kernel fully overwrites; poisoned in the simulator so tests catch gaps."""
    if SIMULATOR:
        return xp.full(shape, fill, dtype=dtype)
    return xp.empty(shape, dtype=dtype)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Max over each window -> (y, indices); indices are flat h*W + w in the input plane (int64)."""
    k, s, p, d, out_shape = shapes.max_pool2d_args(x, kernel_size, stride, padding, dilation, ceil_mode)
    require()
    xf, dtype = _flat(x)
    n_out = int(np.prod(out_shape))
    y = _output(n_out, dtype)
    ind = _output(n_out, np.int64, -1)
    h, w = x.shape[2:]
    launch(_max_fwd, n_out, xf, y, ind, n_out, h, w, out_shape[2], out_shape[3],
           k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    return y.reshape(out_shape).astype(x.dtype, copy=False), ind.reshape(out_shape)


def max_pool2d_backward(grad_y, indices, x_shape):
    """grad_x: grad_y scatter-added into each input plane at indices (overlapping windows sum)."""
    x_shape = shapes.max_pool2d_backward_args(grad_y, indices, x_shape)
    require()
    gy, dtype = _flat(grad_y)
    ind = xp.ascontiguousarray(indices).reshape(-1)
    gx = xp.zeros(int(np.prod(x_shape)), dtype=dtype)  # the scatter adds into zeros
    n = gy.size
    launch(_max_bwd, n, gy, ind, gx, n, grad_y.shape[2] * grad_y.shape[3], x_shape[2] * x_shape[3])
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Mean over each window (divisor: divisor_override, else the window with or without padding)."""
    op = "avg_pool2d_forward"
    shapes.check_pool_input(x, op)
    k, s, p, divisor, out_shape = shapes.avg_pool2d_args(op, x.shape, kernel_size, stride, padding,
                                                          ceil_mode, divisor_override)
    require()
    xf, dtype = _flat(x)
    n_out = int(np.prod(out_shape))
    y = _output(n_out, dtype)
    h, w = x.shape[2:]
    launch(_avg_fwd, n_out, xf, y, n_out, h, w, out_shape[2], out_shape[3], k[0], k[1], s[0], s[1],
           p[0], p[1], bool(count_include_pad), divisor)
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
    require()
    gy, dtype = _flat(grad_y)
    n = int(np.prod(x_shape))
    gx = _output(n, dtype)
    launch(_avg_bwd, n, gy, gx, n, x_shape[2], x_shape[3], out_shape[2], out_shape[3], k[0], k[1],
           s[0], s[1], p[0], p[1], bool(count_include_pad), divisor)
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)


def adaptive_avg_pool2d_forward(x, output_size):
    """Mean over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)) on each axis."""
    ho, wo = shapes.adaptive_avg_pool2d_args(x, output_size)
    require()
    xf, dtype = _flat(x)
    n_, c, h, w = x.shape
    n_out = n_ * c * ho * wo
    y = _output(n_out, dtype)
    launch(_adaptive_fwd, n_out, xf, y, n_out, h, w, ho, wo)
    return y.reshape(n_, c, ho, wo).astype(x.dtype, copy=False)


def adaptive_avg_pool2d_backward(grad_y, x_shape):
    """grad_x: each grad_y element spread evenly over its adaptive window (windows may overlap)."""
    x_shape, (ho, wo) = shapes.adaptive_avg_pool2d_backward_args(grad_y, x_shape)
    require()
    gy, dtype = _flat(grad_y)
    n = int(np.prod(x_shape))
    gx = _output(n, dtype)
    launch(_adaptive_bwd, n, gy, gx, n, x_shape[2], x_shape[3], ho, wo)
    return gx.reshape(x_shape).astype(grad_y.dtype, copy=False)
