"""The per-element maths of the pooling kernels, written once for kernels.cpu and kernels.cuda.

Plain scalar functions over one window or one element: window bounds (max, average and adaptive
pooling), the average-pooling divisor, the max rule, a window's max and mean. The backends compile them
with kernels._shared_jit and keep only the loops around them (kernels/cpu/pool.py: a prange over planes
or output rows, plus CPU fast paths built from the same functions; kernels/cuda/pool.py: one thread per
output or input element). Arrays are flat C-contiguous planes: element (h, w) of the plane that starts
at ``base`` is ``x[base + h*width + w]``.

Sums accumulate in the array's dtype (float32 for float32 and float16 inputs, which compute in float32),
row by row in the window, and are then divided by the divisor in that dtype: what PyTorch's CPU and CUDA
kernels do (their accumulator type for float is float), so float32 results match PyTorch's CPU ones
to the bit where the summation order is the same, and a float32 CUDA kernel never computes in float64.
"""
import math


def takes(v, best):
    """Whether a tap of value v replaces the window's max so far: strictly greater keeps the first max; a
    NaN always wins (so the last NaN does, as in PyTorch)."""
    return (v > best) | (v != v)


def max_window(x, base, height, width, h0, w0, kh, kw, dh, dw):
    """(max, its flat index h*width + w) over the in-input taps of the window whose tap (0, 0) is at
    (h0, w0) (negative: in the padding). An all-padding window gives -inf and, as PyTorch, the index of
    its first in-input tap. Bounds are tested tap by tap: an int64 division per window (the taps' range)
    took a CUDA kernel from 38 to 72 registers."""
    hb = h0
    while hb < 0:
        hb += dh
    wb = w0
    while wb < 0:
        wb += dw
    best = x.dtype.type(-math.inf)
    arg = hb * width + wb
    for i in range(kh):
        h = h0 + i * dh
        if h >= 0 and h < height:
            for j in range(kw):
                w = w0 + j * dw
                if w >= 0 and w < width:
                    v = x[base + h * width + w]
                    if takes(v, best):
                        best = v
                        arg = h * width + w
    return best, arg


def avg_window(o, stride, pad, kernel, size):
    """Output o's average-pooling window on one axis: (start, end) clipped to the input, and its length
    clipped to the padded input instead (the count with count_include_pad)."""
    start = o * stride - pad
    end = min(start + kernel, size + pad)
    return max(start, 0), min(end, size), end - start


def avg_divisor(hs, he, hpad, ws, we, wpad, include_pad, divisor, like):
    """An output's divisor, in like's dtype: divisor_override when given (non-zero), else the size of its
    window with (count_include_pad) or without the padding."""
    if divisor != 0:
        n = divisor
    elif include_pad:
        n = hpad * wpad
    else:
        n = (he - hs) * (we - ws)
    return like.dtype.type(n)


def avg_outputs(i, pad, kernel, stride, out):
    """The outputs [lo, hi) on one axis whose average-pooling window holds input element i."""
    first = i + pad - kernel + 1  # the earliest window start that still reaches i
    lo = 0 if first <= 0 else (first + stride - 1) // stride
    return lo, min((i + pad) // stride + 1, out)


def adaptive_window(o, size, out):
    """Output o's adaptive window [floor(o*size/out), ceil((o+1)*size/out)) on one axis."""
    return (o * size) // out, ((o + 1) * size + out - 1) // out


def adaptive_outputs(i, size, out):
    """The outputs [lo, hi) on one axis whose adaptive window holds input element i."""
    return (i * out) // size, min(((i + 1) * out - 1) // size + 1, out)


def window_sum(x, base, width, hs, he, ws, we):
    """Sum of rows [hs, he) x columns [ws, we) of the plane at x[base], in x's dtype, row by row."""
    acc = x.dtype.type(0)
    for h in range(hs, he):
        for w in range(ws, we):
            acc += x[base + h * width + w]
    return acc


def sum_2x2(zero, top_left, top_right, bottom_left, bottom_right):
    """window_sum of a full 2x2 window from its four values: the same additions in the same order (for the
    CPU's 2x2 fast paths, whose loops vectorise only with the taps indexed there)."""
    return (((zero + top_left) + top_right) + bottom_left) + bottom_right


def avg_pool_at(x, base, height, width, oh, ow, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    """Average pooling's output (oh, ow) of the plane at x[base]."""
    hs, he, hpad = avg_window(oh, sh, ph, kh, height)
    ws, we, wpad = avg_window(ow, sw, pw, kw, width)
    return (window_sum(x, base, width, hs, he, ws, we)
            / avg_divisor(hs, he, hpad, ws, we, wpad, include_pad, divisor, x))


def avg_share(gy, k, oh, ow, height, width, kh, kw, sh, sw, ph, pw, include_pad, divisor):
    """What each input element of output (oh, ow)'s window receives of its gradient gy[k]."""
    hs, he, hpad = avg_window(oh, sh, ph, kh, height)
    ws, we, wpad = avg_window(ow, sw, pw, kw, width)
    return gy[k] / avg_divisor(hs, he, hpad, ws, we, wpad, include_pad, divisor, gy)


def adaptive_mean(total, hs, he, ws, we, like):
    """A sum over adaptive window [hs, he) x [ws, we) divided by its height, then by its width, in like's
    dtype: PyTorch's CPU and CUDA kernels divide twice (one division by the window's size rounds
    differently in about a quarter of float32 outputs)."""
    return total / like.dtype.type(he - hs) / like.dtype.type(we - ws)


def adaptive_pool_at(x, base, height, width, oh, ow, ho, wo):
    """Adaptive average pooling's output (oh, ow) of the plane at x[base], for an ho x wo output."""
    hs, he = adaptive_window(oh, height, ho)
    ws, we = adaptive_window(ow, width, wo)
    return adaptive_mean(window_sum(x, base, width, hs, he, ws, we), hs, he, ws, we, x)


def adaptive_share(gy, k, oh, ow, height, width, ho, wo):
    """What each input element of adaptive output (oh, ow)'s window receives of its gradient gy[k]."""
    hs, he = adaptive_window(oh, height, ho)
    ws, we = adaptive_window(ow, width, wo)
    return adaptive_mean(gy[k], hs, he, ws, we, gy)
