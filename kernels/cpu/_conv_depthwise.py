"""Depthwise conv2d on the CPU: groups == input channels == output channels (MobileNet's 3x3, ConvNeXt's
7x7), stride 1, no dilation, padding below the kernel size.

im2col + GEMM runs such a layer as C tiny GEMMs of one channel each (a (1, kH * kW) weight row against its
columns): (32, 64, 32, 32) with 3x3 kernels, forward and backward 52 ms against PyTorch's 14.7. Here each
(sample, channel) plane is one item on the threads: its rows padded into a small buffer, then every
output row is the bias plus kH * kW shifted input rows times one weight each (vectorised along the row).
The input gradient is the same loop on grad_y with the kernel flipped and padding k - 1 - p; the weight
gradient takes each channel's kH * kW dot products of grad_y with the shifted input, over the batch.
"""
import numpy as np
from numba import prange

from kernels.cpu._serial import by_size


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs here (forward; conv.py's backward asks for itself)."""
    return (use == "forward" and g.groups > 1 and g.groups == g.C == g.C_out and g.stride == (1, 1)
            and g.dilation == (1, 1) and g.padding[0] < g.kH and g.padding[1] < g.kW
            and x.dtype in (np.float32, np.float64) and w.dtype == x.dtype
            and (b is None or b.dtype == x.dtype))


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    y = np.empty((g.N, g.C, g.Ho, g.Wo), x.dtype)
    bias = np.zeros(g.C, x.dtype) if b is None else np.ascontiguousarray(b)
    _planes(np.ascontiguousarray(x), np.ascontiguousarray(w.reshape(g.C, g.kH, g.kW)), bias, y, *g.padding)
    return y


def backward(grad_y, x, w, g, need_x, need_w):
    """(grad_x, grad_w) for a geometry g that ``applies``; None where not needed (the bias gradient is
    kernels/cpu/conv.py's, as for every layer)."""
    grad_y, x = np.ascontiguousarray(grad_y), np.ascontiguousarray(x)
    gx = gw = None
    if need_x:  # a forward of grad_y with the kernel flipped, padded by k - 1 - p
        flipped = np.ascontiguousarray(w.reshape(g.C, g.kH, g.kW)[:, ::-1, ::-1])
        gx = np.empty_like(x)
        _planes(grad_y, flipped, np.zeros(g.C, x.dtype), gx, g.kH - 1 - g.padding[0], g.kW - 1 - g.padding[1])
    if need_w:
        sums = np.empty((g.C, g.kH, g.kW))
        _weight_sums(grad_y, x, sums, *g.padding)
        gw = sums.astype(x.dtype).reshape(w.shape)
    return gx, gw


@by_size(fastmath={"contract"})
def _planes(x, w, b, y, ph, pw):
    # y[n, c] = b[c] + the correlation of x[n, c] zero-padded by (ph, pw) with w[c]
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    kH, kW = w.shape[1], w.shape[2]
    for t in prange(N * C):
        n, c = t // C, t % C
        padded = np.zeros((H + 2 * ph, W + 2 * pw), x.dtype)
        padded[ph:ph + H, pw:pw + W] = x[n, c]
        for i in range(Ho):
            out = y[n, c, i]
            out[:] = b[c]
            for kh in range(kH):
                for kw in range(kW):
                    wv = w[c, kh, kw]
                    src = padded[i + kh, kw:kw + Wo]
                    for j in range(Wo):
                        out[j] += wv * src[j]


@by_size(fastmath={"reassoc", "contract"})
def _weight_sums(grad_y, x, sums, ph, pw):
    # sums[c, kh, kw] = the sum over samples and output pixels of grad_y times x padded, shifted by (kh, kw)
    N, C, H, W = x.shape
    Ho, Wo = grad_y.shape[2], grad_y.shape[3]
    kH, kW = sums.shape[1], sums.shape[2]
    for c in prange(C):
        padded = np.zeros((H + 2 * ph, W + 2 * pw), x.dtype)
        acc = np.zeros((kH, kW))
        for n in range(N):
            padded[ph:ph + H, pw:pw + W] = x[n, c]
            for kh in range(kH):
                for kw in range(kW):
                    s = 0.0
                    for i in range(Ho):
                        gr, src = grad_y[n, c, i], padded[i + kh, kw:kw + Wo]
                        for j in range(Wo):
                            s += gr[j] * src[j]
                    acc[kh, kw] += s
        sums[c] = acc
