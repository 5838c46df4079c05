"""conv2d / conv_transpose2d on the CPU: im2col from a NumPy strided view + one BLAS GEMM per group.

The GEMM orchestration is shared with kernels.cuda (kernels/_conv_im2col.py); this file supplies
the CPU pieces:
- im2col: a zero-padded copy of x, an ``as_strided`` view (C, kH, kW, N, Ho, Wo) of it, copied
  once into the (C*kH*kW, N*Ho*Wo) column matrix: the inner run is a contiguous output row.
- col2im: a Numba loop over (n, c) planes that adds the kH*kW shifted (strided) slices of the
  column matrix into the plane, which stays in L1. It is deliberately single-threaded: it runs
  right after a BLAS call, whose worker thread keeps spinning on the second core for a while, and a
  2-thread ``prange`` there measured slower than one thread (it waits for the spinner's time slice).
- workspace: the large temporaries (columns, transposed grads) live in one buffer per slot and
  thread that is reused across calls. glibc returns allocations over 32 MiB to the kernel on free,
  and faulting 75 MB of fresh pages costs more than the GEMM; raising the mmap threshold with
  mallopt instead was measured to make Numba's parallel loops erratically slow (8 ms per call).
"""
import threading

import numpy as np
from numba import njit
from numpy.lib.stride_tricks import as_strided

from kernels import _conv_im2col as _impl

__all__ = ["conv2d_backward", "conv2d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward"]


class _CPU:
    xp = np
    chunk_bytes = 4 << 20  # column-matrix bytes per batch chunk (see _conv_im2col._chunks)
    _local = threading.local()

    @classmethod
    def workspace(cls, slot, shape, dtype):
        """Scratch array of shape/dtype (contents undefined), reusing this thread's buffer for slot."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buf = getattr(cls._local, slot, None)
        if buf is None or buf.nbytes < nbytes:
            buf = np.empty(max(nbytes, 64), dtype=np.uint8)
            setattr(cls._local, slot, buf)
        return buf[:nbytes].view(dtype).reshape(shape)

    @classmethod
    def im2col(cls, x, g, cols):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        N, C, H, W = x.shape
        if ph or pw:
            xp_ = cls.workspace("xpad", (N, C, H + 2 * ph, W + 2 * pw), x.dtype)
            xp_[:, :, :ph] = 0
            xp_[:, :, ph + H:] = 0
            xp_[:, :, ph:ph + H, :pw] = 0
            xp_[:, :, ph:ph + H, pw + W:] = 0
            xp_[:, :, ph:ph + H, pw:pw + W] = x
        else:
            xp_ = x
        sN, sC, sH, sW = xp_.strides
        view = as_strided(xp_, (C, g.kH, g.kW, N, g.Ho, g.Wo),
                          (sC, sH * dh, sW * dw, sN, sH * sh, sW * sw), writeable=False)
        cols.reshape(view.shape)[...] = view

    @staticmethod
    def col2im(cols, g, gx):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        _col2im(cols, gx, g.kH, g.kW, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)


@njit(inline="always")
def _valid_range(k, d, p, s, n_out, size):
    """Output positions o in [lo, hi) whose input position o*s - p + k*d lies in [0, size)."""
    off = k * d - p
    lo = 0 if off >= 0 else (-off + s - 1) // s
    hi = (size - 1 - off) // s + 1 if size - 1 - off >= 0 else 0
    hi = min(hi, n_out)
    return off, lo, max(lo, hi)


@njit(cache=True)
def _col2im(cols, gx, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo):
    N, C, H, W = gx.shape
    for t in range(N * C):
        n = t // C
        c = t % C
        plane = gx[n, c]
        plane[:, :] = 0
        for kh in range(kH):
            offh, hlo, hhi = _valid_range(kh, dh, ph, sh, Ho, H)
            for kw in range(kW):
                offw, wlo, whi = _valid_range(kw, dw, pw, sw, Wo, W)
                src = cols[(c * kH + kh) * kW + kw]
                for ho in range(hlo, hhi):
                    dst = plane[ho * sh + offh]
                    base = (n * Ho + ho) * Wo
                    if sw == 1:  # unit stride: a contiguous run that LLVM vectorises
                        for wo in range(wlo, whi):
                            dst[wo + offw] += src[base + wo]
                    else:
                        for wo in range(wlo, whi):
                            dst[wo * sw + offw] += src[base + wo]


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b, as F.conv2d; x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW)."""
    return _impl.conv2d_forward(_CPU, x, w, b, stride, padding, dilation, groups)


def conv2d_backward(grad_y, x, w, stride, padding, dilation, groups, needs):
    """(grad_x, grad_w, grad_b) of conv2d; entries whose `needs` flag is False are None."""
    return _impl.conv2d_backward(_CPU, grad_y, x, w, stride, padding, dilation, groups, needs)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """As torch.nn.functional.conv_transpose2d: x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW)."""
    return _impl.conv_transpose2d_forward(_CPU, x, w, b, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward(grad_y, x, w, stride, padding, output_padding, dilation, groups, needs):
    """(grad_x, grad_w, grad_b) of conv_transpose2d; entries whose `needs` flag is False are None."""
    return _impl.conv_transpose2d_backward(_CPU, grad_y, x, w, stride, padding, output_padding, dilation,
                                           groups, needs)
