"""conv2d / conv_transpose2d on the CPU: Numba im2col / col2im + one BLAS GEMM per group and batch chunk.

The GEMM orchestration is shared with kernels.cuda (kernels/_conv_im2col.py); this file supplies
the CPU pieces:
- im2col: a Numba loop writing the (C*kH*kW, N*Ho*Wo) column matrix row by row, one contiguous
  output row (Wo elements) at a time, zeros where a tap reads padding: no padded copy of x. The
  NumPy version (an ``as_strided`` view (C, kH, kW, N, Ho, Wo) of a zero-padded x, copied once;
  tests/kernels/test_conv.py keeps it as a reference) measured 1.3-1.8x slower on the benchmark
  shapes, mostly NumPy's per-inner-row overhead on runs of 10-32 elements.
- col2im: a Numba loop over (n, c) planes that adds the kH*kW shifted (strided) runs of the
  column matrix into the plane, which stays in L1; flat unsigned indexing lets the runs vectorise
  (4-6x faster than 2-D indexing, whose negative-index check blocks it).
- Both are single-threaded on purpose: they run right after a BLAS call, whose worker thread keeps
  spinning on the second core for a while, and a 2-thread ``prange`` there measured slower than
  one thread (it waits for the spinner's time slice); under Numba's TBB layer a parallel version
  measured within 3% of serial. BLAS gets both cores for the GEMMs.
- the weight gradient's GEMM with few output channels: a Numba dot-product loop (``_few_rows_nt``),
  faster than OpenBLAS on such thin products.
- batch chunks of ~4 MB of columns (``chunk_bytes``) keep each chunk's columns in cache between
  the im2col that writes them and the GEMM that reads them (and GEMM -> col2im in backward).
- workspace: the temporaries (columns, transposed grads) live in one buffer per slot and thread,
  reused across calls, so they are not page-faulted in again each call. No mallopt: with chunks the
  temporaries are small, and raising glibc's mmap threshold made Numba's parallel loops erratic.
"""
import threading

import numpy as np
from numba import njit, prange, uint64

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

    @staticmethod
    def matmul_nt(a, b, out, accumulate):
        """out = a @ b.T (or out += it) for the weight gradient: a (C_out, pixels), b (K, pixels)."""
        if a.shape[0] <= FEW_ROWS and a.dtype == b.dtype == out.dtype and out.flags.c_contiguous:
            _few_rows_nt(a, b, out, accumulate, out.dtype.type(0))
        elif accumulate:
            out += np.matmul(a, b.T)
        else:
            np.matmul(a, b.T, out=out)

    @staticmethod
    def im2col(x, g, cols):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        _im2col(x, cols, g.kH, g.kW, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)

    @staticmethod
    def col2im(cols, g, gx):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        _col2im(cols, gx, g.kH, g.kW, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)


# Weight-gradient GEMMs with at most this many output channels (per group) run in _few_rows_nt. OpenBLAS
# runs LeNet's first layer's (6 x 12,544) @ (12,544 x 75) products at ~35 GFLOP/s: that layer's weight
# gradient took 1.87 ms with it and 1.63 ms with the loop below; at 16 rows (LeNet's second layer) the
# two are equal, so larger GEMMs stay with BLAS.
FEW_ROWS = 8
_BLOCK = 2048  # pixels per work item of _few_rows_nt


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _few_rows_nt(a, b, out, accumulate, zero):
    # dot products of each row of a with each row of b over the long pixel axis, in blocks of pixels
    # summed per block (vectorised by reassociation) and then across blocks in a fixed order
    M, P = a.shape
    K = b.shape[0]
    blocks = (P + _BLOCK - 1) // _BLOCK
    partial = np.empty((blocks, M, K), dtype=out.dtype)
    for blk in prange(blocks):
        lo = blk * _BLOCK
        hi = min(P, lo + _BLOCK)
        for k in range(K):
            bk = b[k, lo:hi]
            for m in range(M):
                am = a[m, lo:hi]
                acc = zero
                for j in range(hi - lo):
                    acc += am[j] * bk[j]
                partial[blk, m, k] = acc
    for m in range(M):
        for k in range(K):
            acc = out[m, k] if accumulate else zero
            for blk in range(blocks):
                acc += partial[blk, m, k]
            out[m, k] = acc


@njit(inline="always")
def _valid_range(k, d, p, s, n_out, size):
    """Output positions o in [lo, hi) whose input position o*s - p + k*d lies in [0, size)."""
    off = k * d - p
    lo = 0 if off >= 0 else (-off + s - 1) // s
    hi = (size - 1 - off) // s + 1 if size - 1 - off >= 0 else 0
    hi = min(hi, n_out)
    return off, lo, max(lo, hi)


@njit(cache=True)
def _im2col(x, cols, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo):
    N, C, H, W = x.shape
    src = x.reshape(-1)
    dst = cols.reshape(-1)
    M = N * Ho * Wo
    for row in range(C * kH * kW):
        c = row // (kH * kW)
        kh = (row // kW) % kH
        kw = row % kW
        offh, hlo, hhi = _valid_range(kh, dh, ph, sh, Ho, H)
        offw, wlo, whi = _valid_range(kw, dw, pw, sw, Wo, W)
        for n in range(N):
            plane = (n * C + c) * H * W
            for ho in range(Ho):
                d0 = uint64(row * M + (n * Ho + ho) * Wo)  # unsigned: see _col2im
                if ho < hlo or ho >= hhi:  # the whole output row reads padding
                    for j in range(uint64(Wo)):
                        dst[d0 + j] = 0
                    continue
                for j in range(uint64(wlo)):
                    dst[d0 + j] = 0
                s0 = uint64(plane + (ho * sh + offh) * W + wlo * sw + offw)
                d1 = d0 + uint64(wlo)
                if sw == 1:
                    for j in range(uint64(whi - wlo)):
                        dst[d1 + j] = src[s0 + j]
                else:
                    for j in range(uint64(whi - wlo)):
                        dst[d1 + j] = src[s0 + j * uint64(sw)]
                for j in range(uint64(whi), uint64(Wo)):
                    dst[d0 + j] = 0


@njit(cache=True)
def _col2im(cols, gx, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo):
    N, C, H, W = gx.shape
    M = cols.shape[1]
    src = cols.reshape(-1)
    dst = gx.reshape(-1)
    for t in range(N * C):
        n = t // C
        c = t % C
        plane = t * H * W
        dst[plane:plane + H * W] = 0
        for kh in range(kH):
            offh, hlo, hhi = _valid_range(kh, dh, ph, sh, Ho, H)
            for kw in range(kW):
                offw, wlo, whi = _valid_range(kw, dw, pw, sw, Wo, W)
                row = (c * kH + kh) * kW + kw
                for ho in range(hlo, hhi):
                    # unsigned offsets: Numba then skips its negative-index wraparound branch and
                    # LLVM vectorises the run (measured 4-6x faster than 2-D indexing)
                    s0 = uint64(row * M + (n * Ho + ho) * Wo + wlo)
                    d0 = uint64(plane + (ho * sh + offh) * W + wlo * sw + offw)
                    if sw == 1:
                        for j in range(uint64(whi - wlo)):
                            dst[d0 + j] += src[s0 + j]
                    else:
                        for j in range(uint64(whi - wlo)):
                            dst[d0 + j * uint64(sw)] += src[s0 + j]


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
