"""conv2d / conv_transpose2d on the CPU: Numba im2col / col2im + one BLAS GEMM per group and batch chunk.

The GEMM orchestration is shared with kernels.cuda (kernels/_conv_im2col.py); this file supplies
the CPU pieces:
- im2col: the input is first zero-padded into a scratch copy (``_pad``; skipped without padding),
  then a Numba loop writes the (C*kH*kW, N*Ho*Wo) column matrix row by row, one contiguous output
  row (Wo elements) at a time. With the padding materialised no run needs clipping; that measured
  1.3-2x faster than clipping each run against the unpadded input (the padded copy costs ~1/9 of
  the columns' writes for a 3x3 kernel). The NumPy version (an ``as_strided`` view of the padded x,
  copied once; tests/kernels/test_conv.py keeps it as a reference) measured 1.3-1.8x slower than
  even the clipping loop, mostly NumPy's per-inner-row overhead on runs of 10-32 elements.
- col2im: a Numba loop over (n, c) planes that adds the kH*kW shifted (strided) runs of the
  column matrix into a zeroed padded scratch plane (in L1), then copies its interior out; flat
  unsigned indexing lets the runs vectorise (4-6x faster than 2-D indexing, whose negative-index
  check blocks it).
- Threads: the batch is split over threads (kernels/cpu/_batch_threads.py), each running its part's
  im2col, GEMMs on one BLAS thread and col2im; the Numba loops are serial and release the GIL. Before,
  the loops ran serially between GEMMs on OpenBLAS's two threads, whose spinning worker slowed them up
  to 6.5x: the ResNet-style 64->64 3x3 forward took 43 ms against 17 ms split (one run; 1.6 -> 0.95 ms
  for LeNet's first layer).
- the weight gradient's GEMM with few output channels: a Numba dot-product loop (``_few_rows_nt``),
  faster than OpenBLAS on such thin products.
- a direct forward for few output channels (``_direct_conv``; stride 1, no dilation, one group, at most
  DIRECT_MAX_OUT channels, and no columns kept for backward): no column matrix at all. LeNet's first
  layer (64x3x32x32 -> 6, 5x5) wrote 15 MB of columns that a 6-row GEMM, which OpenBLAS runs at
  ~40 GFLOP/s, read back: 1.12-1.16 -> 0.67 ms on two threads; the LeNet training step 7.0-7.8 ->
  6.3-7.0 ms (three runs, the two paths alternating in one process). Its second layer keeps its 3.8 MB
  of columns for the weight gradient, which the GEMM path then needs anyway; alone it ran 0.53 -> 0.49.
- batch chunks of ~4 MB of columns (``chunk_bytes``) keep each chunk's columns in cache between
  the im2col that writes them and the GEMM that reads them (and GEMM -> col2im in backward).
- workspace: the temporaries (columns, transposed grads) live in one buffer per slot and thread,
  reused across calls, so they are not page-faulted in again each call. No mallopt: with chunks the
  temporaries are small, and raising glibc's mmap threshold made Numba's parallel loops erratic.
"""
import math
import threading

import numpy as np
from numba import njit, uint64

from kernels import _conv_im2col as _impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu._batch_threads import map_batch

__all__ = ["conv2d_backward", "conv2d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward"]


class _CPU:
    xp = np
    chunk_bytes = 4 << 20  # column-matrix bytes per batch chunk (see _conv_im2col._chunks)
    _local = threading.local()

    @classmethod
    def workspace(cls, slot, shape, dtype):
        """Scratch array of shape/dtype (contents undefined), reusing this thread's buffer for slot."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
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

    map_batch = staticmethod(map_batch)

    @classmethod
    def im2col(cls, x, g, cols, col0):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        if ph or pw:
            N, C, H, W = x.shape
            padded = cls.workspace("padded", (N, C, H + 2 * ph, W + 2 * pw), x.dtype)
            _pad(x, padded, ph, pw)
            x = padded
        _im2col(x, cols, col0, g.kH, g.kW, sh, sw, dh, dw, g.Ho, g.Wo)

    @staticmethod
    def col2im(cols, g, gx):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        _col2im(cols, gx, g.kH, g.kW, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)


# Weight-gradient GEMMs with at most this many output channels (per group) run in _few_rows_nt. OpenBLAS
# runs LeNet's first layer's (6 x 50,176) @ (50,176 x 75) product at ~35-40 GFLOP/s, the loop below at
# ~100 (1.28 vs 0.45 ms); at 12 rows the loop still led (124 against 78 GFLOP/s), at 16 BLAS did (137
# against 79), so larger GEMMs stay with BLAS.
FEW_ROWS = 8
_BLOCK = 2048  # pixels per work item of _few_rows_nt


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _few_rows_nt(a, b, out, accumulate, zero):
    # dot products of each row of a with each row of b over the long pixel axis, in blocks of pixels
    # summed per block (vectorised by reassociation) and then across blocks in a fixed order. Four rows
    # of a share each pass over a row of b (one row at a time measured 1.4-2.6x slower: load-bound).
    # Serial: the batch's parts already run on parallel threads.
    M, P = a.shape
    K = b.shape[0]
    blocks = (P + _BLOCK - 1) // _BLOCK
    partial = np.empty((blocks, M, K), dtype=out.dtype)
    for blk in range(blocks):
        lo = blk * _BLOCK
        hi = min(P, lo + _BLOCK)
        for m0 in range(0, M, 4):
            # rows past M repeat the last row; their sums are dropped
            a0 = a[m0, lo:hi]
            a1 = a[min(m0 + 1, M - 1), lo:hi]
            a2 = a[min(m0 + 2, M - 1), lo:hi]
            a3 = a[min(m0 + 3, M - 1), lo:hi]
            for k in range(K):
                bk = b[k, lo:hi]
                s0 = s1 = s2 = s3 = zero
                for j in range(hi - lo):
                    s0 += a0[j] * bk[j]
                    s1 += a1[j] * bk[j]
                    s2 += a2[j] * bk[j]
                    s3 += a3[j] * bk[j]
                for r, s in enumerate((s0, s1, s2, s3)):
                    if m0 + r < M:
                        partial[blk, m0 + r, k] = s
    for m in range(M):
        for k in range(K):
            acc = out[m, k] if accumulate else zero
            for blk in range(blocks):
                acc += partial[blk, m, k]
            out[m, k] = acc


@njit(nogil=True, cache=True)
def _pad(x, xp, ph, pw):
    """xp = x zero-padded by ph rows and pw columns on each side of every (n, c) plane."""
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    src = x.reshape(-1)
    dst = xp.reshape(-1)
    for t in range(N * C):
        plane = uint64(t * Hp * Wp)
        dst[plane:plane + uint64(ph * Wp)] = 0
        dst[plane + uint64((ph + H) * Wp):plane + uint64(Hp * Wp)] = 0
        for h in range(H):
            d0 = plane + uint64((h + ph) * Wp)
            s0 = uint64((t * H + h) * W)
            for j in range(uint64(pw)):
                dst[d0 + j] = 0
                dst[d0 + uint64(pw + W) + j] = 0
            for j in range(uint64(W)):
                dst[d0 + uint64(pw) + j] = src[s0 + j]


@njit(nogil=True, cache=True)
def _im2col(xp, cols, col0, kH, kW, sh, sw, dh, dw, Ho, Wo):
    # xp is the padded input, so every tap's run of Wo outputs reads inside it: no boundary logic
    # (measured 1.3-2x faster than clipping each run against the unpadded input); its columns go to
    # cols[:, col0:col0 + N*Ho*Wo] (cols is C-contiguous)
    N, C, Hp, Wp = xp.shape
    src = xp.reshape(-1)
    dst = cols.reshape(-1)
    M = cols.shape[1]
    for row in range(C * kH * kW):
        c = row // (kH * kW)
        kh = (row // kW) % kH
        kw = row % kW
        for n in range(N):
            tap = ((n * C + c) * Hp + kh * dh) * Wp + kw * dw
            for ho in range(Ho):
                # unsigned offsets: Numba then skips its negative-index wraparound branch and
                # LLVM vectorises the run
                s0 = uint64(tap + ho * sh * Wp)
                d0 = uint64(row * M + col0 + (n * Ho + ho) * Wo)
                if sw == 1:
                    for j in range(uint64(Wo)):
                        dst[d0 + j] = src[s0 + j]
                else:
                    for j in range(uint64(Wo)):
                        dst[d0 + j] = src[s0 + j * uint64(sw)]


@njit(nogil=True, cache=True)
def _col2im(cols, gx, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo):
    # each (n, c) plane is summed in a zeroed padded scratch plane (in L1), whose interior is then
    # copied out: the runs need no clipping against the borders
    N, C, H, W = gx.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    M = cols.shape[1]
    src = cols.reshape(-1)
    dst = gx.reshape(-1)
    acc = np.empty(Hp * Wp, dtype=gx.dtype)
    for t in range(N * C):
        n = t // C
        c = t % C
        acc[:] = 0
        for kh in range(kH):
            for kw in range(kW):
                row = (c * kH + kh) * kW + kw
                for ho in range(Ho):
                    s0 = uint64(row * M + (n * Ho + ho) * Wo)
                    d0 = uint64((ho * sh + kh * dh) * Wp + kw * dw)
                    if sw == 1:
                        for j in range(uint64(Wo)):
                            acc[d0 + j] += src[s0 + j]
                    else:
                        for j in range(uint64(Wo)):
                            acc[d0 + j * uint64(sw)] += src[s0 + j]
        for h in range(H):
            s0 = uint64((h + ph) * Wp + pw)
            d0 = uint64((t * H + h) * W)
            for j in range(uint64(W)):
                dst[d0 + j] = acc[s0 + j]


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns=False):
    """y = conv2d(x, w) + b, as F.conv2d; x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW).

    With keep_columns, returns (y, columns): the im2col matrix, for conv2d_backward's weight gradient,
    or None when it is larger than kernels._conv_im2col.KEEP_COLUMNS_BYTES.
    """
    g = conv2d_geometry("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    if _direct_applies(g, x, w, b, keep_columns):
        y = _direct_forward(x, w, b, g)
        return (y, None) if keep_columns else y
    return _impl.conv2d_forward(_CPU, x, w, b, stride, padding, dilation, groups, keep_columns)


# Convolutions with at most DIRECT_MAX_OUT output channels (stride 1, no dilation, one group) whose
# planes give each tap a run of at least DIRECT_MIN_RUN elements (see _direct_conv) run there instead of
# im2col + GEMM, unless forward keeps its columns for backward. Forward, two threads, float32, im2col
# against direct: 64x16x32x32 -> 32 (3x3, padding 1) 7.2-7.6 -> 5.5 ms, 64x3x32x32 -> 32 3.1-3.6 -> 1.65,
# 64x32x16x16 -> 32 3.4-3.6 -> 3.1, 32x64x32x32 -> 64 18.9-20.3 -> 19.1-19.8 (no gain: left to the GEMM);
# 128x32x8x8 -> 24 1.6-1.8 -> 2.7-2.9 (runs of 78: the per-tap set-up no longer pays).
DIRECT_MAX_OUT = 32
DIRECT_MIN_RUN = 128


def _direct_applies(g, x, w, b, keep_columns):
    run = (g.Ho - 1) * (g.W + 2 * g.padding[1]) + g.Wo
    if not (g.groups == 1 and g.stride == (1, 1) and g.dilation == (1, 1) and g.C_out <= DIRECT_MAX_OUT
            and run >= DIRECT_MIN_RUN and x.dtype in (np.float32, np.float64) and w.dtype == x.dtype
            and (b is None or b.dtype == x.dtype)):
        return False
    return not _impl.keeps_columns(g, x.dtype, keep_columns)  # kept columns come from im2col


def _direct_forward(x, w, b, g):
    """conv2d without a column matrix (_direct_conv), the batch split over threads like im2col's."""
    (ph, pw), dtype = g.padding, x.dtype
    x = np.ascontiguousarray(x)
    taps = g.C * g.kH * g.kW
    blocks, groups4 = (g.C_out + 3) // 4, (taps + 3) // 4
    # weights as [block of 4 output channels][group of 4 taps][tap][channel], zero past the real ones
    padded_w = np.zeros((blocks * 4, groups4 * 4), dtype)
    padded_w[:g.C_out, :taps] = w.reshape(g.C_out, taps)
    packed = np.ascontiguousarray(padded_w.reshape(blocks, 4, groups4, 4).transpose(0, 2, 3, 1))
    bias = np.zeros(blocks * 4, dtype)
    if b is not None:
        bias[:g.C_out] = b
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), dtype)

    def run(n0, n1):
        xs = x[n0:n1]
        if ph or pw:
            padded = _CPU.workspace("padded", (n1 - n0, g.C, g.H + 2 * ph, g.W + 2 * pw), dtype)
            _pad(xs, padded, ph, pw)
            xs = padded
        _direct_conv(xs, packed, bias, y[n0:n1], g.kH, g.kW)

    map_batch(run, g.N, g.N * _impl._sample_bytes(g))
    return y


@njit(nogil=True, cache=True, fastmath={"contract"})
def _direct_conv(xp, packed, bias, y, kH, kW):
    # y = conv2d(xp, w) + bias, stride 1, for xp already padded. Each output plane is computed "wide", on
    # the input's row pitch Wp (the Wp - Wo extra columns of each row are computed and dropped): then
    # every tap adds one contiguous run of L input elements, times its weight, into the plane. Four
    # output channels and four taps per pass: each run is loaded once for four channels and each plane
    # element stored once per four taps (one channel and tap per pass was store-bound, 2x slower).
    N, C, Hp, Wp = xp.shape
    C_out, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    taps = C * kH * kW
    L = (Ho - 1) * Wp + Wo
    x_flat = xp.reshape(N, C * Hp * Wp)
    offsets = np.empty(packed.shape[1] * 4, dtype=np.int64)  # taps past the last repeat it (weight 0)
    for t in range(offsets.size):
        tap = min(t, taps - 1)
        offsets[t] = (tap // (kH * kW)) * Hp * Wp + ((tap // kW) % kH) * Wp + tap % kW
    acc = np.empty((4, L), dtype=y.dtype)
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    for n in range(N):
        xn = x_flat[n]
        for blk in range(packed.shape[0]):
            for r in range(4):
                acc[r, :] = bias[4 * blk + r]
            for grp in range(packed.shape[1]):
                wg = packed[blk, grp]
                t = 4 * grp
                o0, o1, o2, o3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
                x0, x1, x2, x3 = xn[o0:o0 + L], xn[o1:o1 + L], xn[o2:o2 + L], xn[o3:o3 + L]
                w00, w01, w02, w03 = wg[0, 0], wg[1, 0], wg[2, 0], wg[3, 0]
                w10, w11, w12, w13 = wg[0, 1], wg[1, 1], wg[2, 1], wg[3, 1]
                w20, w21, w22, w23 = wg[0, 2], wg[1, 2], wg[2, 2], wg[3, 2]
                w30, w31, w32, w33 = wg[0, 3], wg[1, 3], wg[2, 3], wg[3, 3]
                for p in range(L):
                    v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
                    a0[p] += w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
                    a1[p] += w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
                    a2[p] += w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
                    a3[p] += w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3
            for r in range(min(4, C_out - 4 * blk)):
                for ho in range(Ho):
                    y[n, 4 * blk + r, ho, :] = acc[r, ho * Wp:ho * Wp + Wo]


def conv2d_backward(grad_y, x, w, stride, padding, dilation, groups, needs, columns=None):
    """(grad_x, grad_w, grad_b) of conv2d; entries whose `needs` flag is False are None. columns: what
    conv2d_forward(..., keep_columns=True) returned for this x, or None to recompute it."""
    return _impl.conv2d_backward(_CPU, grad_y, x, w, stride, padding, dilation, groups, needs, columns)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """As torch.nn.functional.conv_transpose2d: x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW)."""
    return _impl.conv_transpose2d_forward(_CPU, x, w, b, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward(grad_y, x, w, stride, padding, output_padding, dilation, groups, needs):
    """(grad_x, grad_w, grad_b) of conv_transpose2d; entries whose `needs` flag is False are None."""
    return _impl.conv_transpose2d_backward(_CPU, grad_y, x, w, stride, padding, output_padding, dilation,
                                           groups, needs)
