"""conv2d / conv_transpose2d on the CPU: Numba im2col / col2im + one BLAS GEMM per group and batch chunk.

The GEMM orchestration is shared with kernels.cuda (kernels/_conv_im2col.py); this file supplies
the CPU pieces:
- im2col: the input is first zero-padded into a scratch copy (``_scratch.padded``; skipped without padding),
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
- depthwise layers (groups == input channels == output channels, stride 1): forward and the input and
  weight gradients in per-plane loops (kernels/cpu/_conv_depthwise.py; the bias gradient is every layer's
  ``_CPU.bias_grad``); im2col ran them as one tiny GEMM per channel (32x64x32x32, 3x3, forward and
  backward 52 ms -> 6.9, PyTorch 11.9).
- float32 forwards with output rows of 16 or more pixels (MIN_ROW), any stride, no dilation, one group
  (with AVX2 at most 16 input channels: above that Winograd and the GEMM measured faster there): a
  register-blocked loop (kernels/cpu/_conv_vector.py), which also takes the input gradient of stride-1
  layers padded less than their kernel (a forward of grad_y).
- few output channels (stride 1, no dilation, one group): forward and the weight gradient (and the
  input gradient of "same"-padded layers with few input channels) run direct loops without a column
  matrix (kernels/cpu/_conv_direct.py); forward keeps no columns for them. On small output planes with
  a batch (short runs on the plane, LeNet's second layer) the loops take the batch as their innermost
  axis instead (kernels/cpu/_conv_batch_inner.py). On long runs the wide-plane loops also serve more
  output channels (forward with few taps; the weight gradient up to 128 channels, with AVX-512).
- 3x3 stride-1 layers with many channels (ResNet's): forward, the input gradient of "same"-padded ones and,
  compiled for AVX2 on large batches of planes, the weight gradient, by Winograd's F(2x2, 3x3)
  (kernels/cpu/_conv_winograd.py): 16 GEMMs with 16 multiplies per four outputs instead of 36.
- batch chunks of ~4 MB of columns (``chunk_bytes``) keep each chunk's columns in cache between
  the im2col that writes them and the GEMM that reads them (and GEMM -> col2im in backward).
- workspace (kernels/cpu/_scratch.py): the temporaries (columns, transposed grads, padded input) live in
  one buffer per slot and thread, reused across calls, so they are not page-faulted in again each call.
  No mallopt: with chunks the temporaries are small, and raising glibc's mmap threshold made Numba's
  parallel loops erratic.
"""
import numpy as np
from numba import njit, prange, uint64

from kernels import _conv_im2col as _impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _conv_batch_inner as conv_batch_inner
from kernels.cpu import _conv_depthwise as conv_depthwise
from kernels.cpu import _conv_direct as conv_direct
from kernels.cpu import _conv_vector as conv_vector
from kernels.cpu import _conv_winograd as conv_winograd
from kernels.cpu._batch_threads import map_batch
from kernels.cpu._scratch import padded, workspace
from kernels.cpu._serial import by_size

__all__ = ["conv2d_backward", "conv2d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward"]


class _CPU:
    xp = np
    chunk_bytes = 4 << 20  # column-matrix bytes per batch chunk (see _conv_im2col._chunks)
    workspace = staticmethod(workspace)

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

    @staticmethod
    def im2col(x, g, cols, col0):
        (sh, sw), (dh, dw) = g.stride, g.dilation
        _im2col(padded(x, *g.padding), cols, col0, g.kH, g.kW, sh, sw, dh, dw, g.Ho, g.Wo)

    @staticmethod
    def col2im(cols, g, gx):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        _col2im(cols, gx, g.kH, g.kW, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)

    @staticmethod
    def bias_grad(grad_y):
        """grad_y (N, C, H, W) summed over all but its channel axis: one pass, channels over the threads,
        each (sample, channel) plane summed in vector lanes and the planes' sums in float64. NumPy's
        ``sum(axis=(0, 2, 3))`` took 0.58 ms for 64x32x32x32 float32, 0.095 for 64x6x28x28."""
        if grad_y.dtype not in (np.float32, np.float64) or not grad_y.flags.c_contiguous or not grad_y.size:
            return grad_y.sum(axis=(0, 2, 3))
        N, C = grad_y.shape[:2]
        sums = np.empty(C, np.float64)
        _channel_sums(grad_y.reshape(N, C, -1), sums)
        return sums.astype(grad_y.dtype)


@by_size(nogil=True, fastmath={"reassoc", "contract"})
def _channel_sums(planes, sums):
    # sums[c] = the sum of planes[:, c, :], see _CPU.bias_grad
    N, C, P = planes.shape
    for c in prange(C):
        total = 0.0
        for n in range(N):
            plane = planes[n, c]
            s = plane.dtype.type(0)
            for p in range(P):
                s += plane[p]
            total += s
        sums[c] = total


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


def _fast_path(g, x, w, b=None, use="forward"):
    """The module whose loop for `use` ("forward" or "weight_grad") serves conv geometry g with these
    arrays (the depthwise loops, the register-blocked forward, the batch-inner direct loops, Winograd's
    F(2x2, 3x3), the wide-plane loops), or None for im2col + GEMM. Depthwise layers go to their own loops;
    of the others the register-blocked forward is asked first: where it applies it measured faster than
    each of the others, Winograd and the GEMM included (two threads, ms: 32x64x32x32 -> 64 12.0 against
    Winograd's 14.3, 32x256x16x16 -> 64 1x1 1.88 against the GEMM's 2.68; kernels/cpu/_conv_vector.py).
    No two of the others take the same weight gradient: the wide-plane loops take long runs of 33 to 128
    channels with AVX-512 only, Winograd's only with AVX2 (where each measured fastest:
    kernels/cpu/_conv_direct.py's WEIGHT_GRAD_MAX_OUT, _conv_winograd.py's WEIGHT_GRAD_MIN_PIXELS)."""
    for path in (conv_depthwise, conv_vector, conv_batch_inner, conv_winograd, conv_direct):
        if path.applies(g, x, w, b, use):
            return path
    return None


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns=False):
    """y = conv2d(x, w) + b, as F.conv2d; x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW).

    With keep_columns, returns (y, columns): the im2col matrix, for conv2d_backward's weight gradient,
    or None when it is larger than kernels._conv_im2col.KEEP_COLUMNS_BYTES or another loop serves this
    layer (``_fast_path``; backward then recomputes the columns where it needs them).
    """
    g = conv2d_geometry("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    path = _fast_path(g, x, w, b)
    if path is not None:
        y = path.forward(x, w, b, g)
        return (y, None) if keep_columns else y
    return _impl.checked_forward(_CPU, x, w, b, g, keep_columns)


def conv2d_backward(grad_y, x, w, stride, padding, dilation, groups, needs, columns=None):
    """(grad_x, grad_w, grad_b) of conv2d; entries whose `needs` flag is False are None. columns: what
    conv2d_forward(..., keep_columns=True) returned for this x, or None to recompute it."""
    g, (need_x, need_w, need_b) = _impl.backward_args(_CPU, grad_y, x, w, stride, padding, dilation, groups,
                                                      needs, columns)
    if conv_depthwise.applies(g, x, w):
        gx, gw = conv_depthwise.backward(grad_y, x, w, g, need_x, need_w)
        return gx, gw, _CPU.bias_grad(grad_y) if need_b else None
    # grad_x as a forward of grad_y (kernels/cpu/_conv_direct.grad_input): for "same"-padded layers through
    # any fast forward, for others (padding below the kernel size: grad_y padded by up to k - 1) through the
    # register-blocked loops only (the batch-inner one skips the taps that read only padding: LeNet's second
    # layer 0.46-0.67 ms through im2col's GEMM and col2im, 0.28-0.47 through it)
    x_path = None
    if need_x and g.stride == (1, 1) and min(g.kH - g.padding[0], g.kW - g.padding[1]) >= 1:
        tg = conv_direct.transposed(g)
        x_path = _fast_path(tg, grad_y, w)
        if not (x_path is conv_vector or conv_direct.same_padded(g)
                or x_path is conv_batch_inner and conv_batch_inner.takes_vector_loop(tg, grad_y)):
            x_path = None
    w_path = _fast_path(g, x, w, use="weight_grad") if need_w and columns is None else None
    rest = (need_x and x_path is None, need_w and w_path is None, need_b)
    gx, gw, gb = _impl.checked_backward(_CPU, grad_y, x, w, g, rest, columns)
    if x_path is not None:
        gx = conv_direct.grad_input(grad_y, w, g, x_path.forward)
    if w_path is not None:
        gw = w_path.weight_grad(grad_y, x, g)
    return gx, gw, gb


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """As torch.nn.functional.conv_transpose2d: x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW)."""
    return _impl.conv_transpose2d_forward(_CPU, x, w, b, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward(grad_y, x, w, stride, padding, output_padding, dilation, groups, needs):
    """(grad_x, grad_w, grad_b) of conv_transpose2d; entries whose `needs` flag is False are None."""
    return _impl.conv_transpose2d_backward(_CPU, grad_y, x, w, stride, padding, output_padding, dilation,
                                           groups, needs)
