"""Direct conv2d loops on the CPU for few output channels: forward, weight and input gradients without a
column matrix (stride 1, no dilation, one group; kernels/cpu/conv.py routes the calls that qualify here).

Both work on "wide" planes: on the padded input's row pitch Wp, output pixel (ho, wo) sits at
ho * Wp + wo, and tap (c, kh, kw) reads the input at that position plus c * Hp * Wp + kh * Wp + kw, so
every tap is one contiguous run of L = (Ho - 1) * Wp + Wo input elements against the plane (the Wp - Wo
extra columns of each row are computed and dropped in forward, multiplied by zeros in the weight
gradient). Both take four output channels (forward: eight) and four taps per pass, the batch split over
threads like im2col's (kernels/cpu/_batch_threads.py).
- forward (_forward_loop): each pass adds four runs, times their weights, into four plane
  accumulators: each run is loaded once for four channels and each plane element stored once per four
  taps (one channel and tap per pass was store-bound, 2x slower). LeNet's first layer (64x3x32x32 -> 6,
  5x5), whose 15 MB of columns a 6-row GEMM read back at ~40 GFLOP/s: 1.12-1.16 -> 0.67 ms on two
  threads. 64x16x32x32 -> 32 (3x3, padding 1) 7.2-7.6 -> 5.5 ms, 64x3x32x32 -> 32 3.1-3.6 -> 1.65,
  64x32x16x16 -> 32 3.4-3.6 -> 3.1. Then, three changes together (none alone gained more than 2-5%): eight
  channels per pass (accumulate_taps8; blocks in pairs, an odd last block through accumulate_taps),
  accumulator rows on 64-byte boundaries (``aligned_rows``: the rows of (L,) floats straddled cache lines
  in every vector load and store) and each sum written as four chained fused multiply-adds from the
  accumulator (a multiply, three FMAs and an add before). Medians of 15 rounds alternating with the
  previous loop in one process, ms, float32, two threads: 64x16x32x32 -> 32 8.76 -> 7.11 and 8.59 -> 7.35,
  64x32x16x16 -> 32 5.72 -> 4.67 and 6.03 -> 4.90, LeNet's first layer 1.13 -> 0.94 and 0.99 -> 0.84,
  32x3x32x32 -> 64 3.62 -> 3.38 and 3.13 -> 2.94.
- weight gradient (_weight_grad_loop): each pass takes the 16 dot products of four runs with four wide
  grad-output planes (zeros in the extra columns), vectorised by reassociation, nothing stored in the
  loop. The im2col path wrote the whole column matrix for a product with few rows: LeNet's first layer
  1.33-1.51 -> 0.52-0.61 ms, its second (64x6x14x14 -> 16) 0.75-0.86 -> 0.48-0.57, 64x16x32x32 -> 32
  7.5-7.8 -> 4.3 (float32, two threads, im2col + GEMM against this, alternating in one process).
- both loops round their runs up to a multiple of 16 (whole vectors: LLVM's remainder loops ran up to 15
  elements one at a time per pass) where the padded copy of the input ends in RUN_SLACK zeros
  (``_padded_part``), and the weight gradient's grad planes are ``aligned_rows`` too. Same A/B as above,
  forward / weight gradient: 64x16x32x32 -> 32 5.52 -> 5.21 and 6.27 -> 5.91 / 6.22 -> 5.00 and 6.50 ->
  5.27, 64x32x16x16 -> 32 3.25 -> 2.74 and 3.55 -> 3.03 / 4.88 -> 4.05 and 5.03 -> 4.19, 32x3x32x32 -> 64
  2.16 -> 2.28 and 2.27 -> 2.26 / 2.52 -> 2.36 and 2.34 -> 2.14.
- input gradient (``grad_input``): a forward (this one, kernels/cpu/_conv_batch_inner.py's or the
  Winograd one) on grad_y, with the weights flipped and transposed, for "same"-padded layers
  (``same_padded``).
Where they apply: at most DIRECT_MAX_OUT output channels (a 64-channel 3x3 layer ran as fast through
the GEMM: 18.9-20.3 against 19.1-19.8 ms forward, and OpenBLAS scales further on other machines), or on
long runs more channels with few taps (forward) or up to WEIGHT_GRAD_MAX_OUT (weight gradient, with
AVX-512 only), and runs of at least DIRECT_MIN_RUN elements (128x32x8x8 -> 24, runs of 78: forward
1.6-1.8 -> 2.7-2.9 ms, the per-pass set-up no longer paid). Forward keeps no columns for these layers:
backward needs none.
"""
import math

import numpy as np
from numba import njit

from kernels._conv_im2col import _sample_bytes
from kernels.cpu._batch_threads import map_batch
from kernels.cpu._scratch import padded_flat
from kernels.cpu._simd import LANES

DIRECT_MAX_OUT = 32
DIRECT_MIN_RUN = 128
# More output channels on long runs (two threads, ms, GEMM path / these loops, batch 32, 32x32, 3x3,
# padding 1, runs of 1,086): forward with few taps (C * kH * kW, the GEMM's inner dimension) 3 -> 64
# 2.84 / 2.01, 16 -> 64 7.87 / 6.37, 3 -> 128 4.33 / 3.10, but 32 -> 64 (288 taps) 10.5 / 11.2; the
# weight gradient 3 -> 64 2.70 / 1.67, 32 -> 64 10.5-12.3 / 7.6-8.7, 64 -> 64 19.7 / 14.7 (on 16x16
# planes, runs of 286, 64 -> 128: 8.3 / 10.4, hence the long runs).
LONG_RUN = 512
FEW_TAPS = 144
# The weight gradient of long runs, GEMM / Winograd / these loops, two threads, ms, medians of 11 alternating
# rounds on an Intel Xeon: AVX-512, 32x64x32x32 -> 64 22.9 / 23.3 / 16.2 and 20.5 / 19.7 / 13.5 (two runs),
# 32x128x32x32 -> 128 80.7 / 74.9 / 67.9, 16x64x56x56 -> 64 39.0 / 36.2 / 28.7, 32x48x32x32 -> 48 15.3 /
# 15.7 / 9.5; compiled for AVX2 (Haswell code there, OpenBLAS's Haswell kernels) these loops lost to both at
# every such layer: 24.4 / 22.0 / 30.3, 83.1 / 67.9 / 115, 38.6 / 33.7 / 47.4, 16.0 / 15.7 / 17.7. So with
# AVX2 the weight gradient of more than DIRECT_MAX_OUT channels is not taken here.
WEIGHT_GRAD_MAX_OUT = 128 if LANES == 16 else DIRECT_MAX_OUT


def plain_float(g, x, w, b=None):
    """What every loop of kernels/cpu besides im2col + GEMM needs: stride 1, no dilation, one group, and
    x, w (and b) all float32 or all float64."""
    return (g.groups == 1 and g.stride == (1, 1) and g.dilation == (1, 1)
            and x.dtype in (np.float32, np.float64) and w.dtype == x.dtype
            and (b is None or b.dtype == x.dtype))


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs this file's loop for `use` ("forward" or
    "weight_grad")."""
    run = (g.Ho - 1) * (g.W + 2 * g.padding[1]) + g.Wo
    if not (plain_float(g, x, w, b) and run >= DIRECT_MIN_RUN):
        return False
    if g.C_out <= DIRECT_MAX_OUT:
        return True
    if use == "weight_grad":
        return run >= LONG_RUN and g.C_out <= WEIGHT_GRAD_MAX_OUT
    return run >= LONG_RUN and g.C * g.kH * g.kW <= FEW_TAPS


def same_padded(g):
    """Whether conv geometry g pads "same" (2p = k - 1): its input gradient is then a stride-1 conv of
    grad_y with as much padding (``transposed``), which a direct or Winograd forward runs where one
    applies (kernels/cpu/conv.py routes it). A valid 5x5 conv (LeNet's second layer) pads its 10x10 grad
    planes by 4 all round, and the GEMM path won there (0.73 against 1.16 ms through this file's loop, 0.89
    against 0.99 through the batch-inner one); 64x16x32x32 -> 32 and 64x3x32x32 -> 32 (3x3, padding 1)
    took 8.6-9.1 -> 5.8-5.9 and 3.1-3.4 -> 2.0 ms here (GEMM + col2im against this), 64x16x8x8 -> 32 and
    128x32x8x8 -> 24 1.01 -> 0.64 and 2.60 -> 1.60 through the batch-inner loop."""
    (ph, pw) = g.padding
    return 2 * ph == g.kH - 1 and 2 * pw == g.kW - 1


def transposed(g):
    """The geometry of grad_x = conv2d(grad_y, w flipped and transposed, padding k - 1 - p), stride 1."""
    return g._replace(C=g.C_out, H=g.Ho, W=g.Wo, C_out=g.C, Ho=g.H, Wo=g.W,
                      padding=(g.kH - 1 - g.padding[0], g.kW - 1 - g.padding[1]))


def blocked(count):
    """count rounded up to a multiple of four (channels per block, taps per group)."""
    return (count + 3) // 4 * 4


# Zeros after a part's padded input: the loops round their runs up to whole 16-element vectors (the
# extra outputs fall in dropped columns, or meet zero grad-output planes), so no scalar remainder loop.
RUN_SLACK = 16


def _padded_part(x, n0, n1, g):
    """(x[n0:n1] zero-padded and flattened, its planes' C, Hp, Wp, the run length for the loops): with
    padding, a copy with RUN_SLACK zeros after it and the run rounded up to a multiple of 16; without,
    x's own memory (copying it cost more than the rounding gained: LeNet's first layer 0.76 -> 0.84 ms)
    and the exact run."""
    ph, pw = g.padding
    Hp, Wp = g.H + 2 * ph, g.W + 2 * pw
    run = (g.Ho - 1) * Wp + g.Wo
    if ph or pw:
        return padded_flat(x[n0:n1], ph, pw, RUN_SLACK), g.C, Hp, Wp, (run + 15) // 16 * 16
    return x[n0:n1].reshape(-1), g.C, Hp, Wp, run


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    x = np.ascontiguousarray(x)
    packed, bias = packed_weights(w, b)
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), x.dtype)

    def run(n0, n1):
        _forward_loop(*_padded_part(x, n0, n1, g), packed, bias, y[n0:n1], g.kH, g.kW)

    map_batch(run, g.N, g.N * _sample_bytes(g))
    return y


def packed_weights(w, b):
    """(packed, bias): w (C_out, C, kH, kW) as [block of 4 output channels][group of 4 taps][tap][channel]
    and b as a vector, both zero past the real channels and taps; bias zero without b."""
    C_out, taps = w.shape[0], math.prod(w.shape[1:])
    blocks, groups4 = blocked(C_out) // 4, blocked(taps) // 4
    padded_w = np.zeros((blocks * 4, groups4 * 4), w.dtype)
    padded_w[:C_out, :taps] = w.reshape(C_out, taps)
    packed = np.ascontiguousarray(padded_w.reshape(blocks, 4, groups4, 4).transpose(0, 2, 3, 1))
    bias = np.zeros(blocks * 4, w.dtype)
    if b is not None:
        bias[:C_out] = b
    return packed, bias


def weight_grad(grad_y, x, g):
    """The gradient of sum(grad_y * conv2d(x, w)) with respect to w (C_out, C, kH, kW), for a geometry g
    that ``applies``: each part of the batch sums its own, and the parts' sums are added in order."""
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    taps = g.C * g.kH * g.kW

    def run(n0, n1):
        gw = np.zeros((blocked(g.C_out), blocked(taps)), x.dtype)
        _weight_grad_loop(*_padded_part(x, n0, n1, g), grad_y[n0:n1], gw, g.kH, g.kW)
        return gw

    parts = map_batch(run, g.N, g.N * _sample_bytes(g))
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    return np.ascontiguousarray(gw[:g.C_out, :taps]).reshape(g.C_out, g.C, g.kH, g.kW)


def grad_input(grad_y, w, g, fast_forward):
    """The gradient of sum(grad_y * conv2d(x, w)) with respect to x, for a ``same_padded`` geometry g:
    fast_forward (a ``forward`` of kernels/cpu that applies to ``transposed(g)``) of grad_y with w's taps
    flipped and its channel axes swapped."""
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return fast_forward(grad_y, flipped, None, transposed(g))


@njit(nogil=True, cache=True)
def tap_offsets(count, taps, kH, kW, Hp, Wp):
    # where each tap's run starts in a sample's padded input; taps past the last repeat it (their weights
    # are zero in forward, their sums dropped in the weight gradient)
    offsets = np.empty(count, dtype=np.int64)
    for t in range(count):
        tap = min(t, taps - 1)
        offsets[t] = (tap // (kH * kW)) * Hp * Wp + ((tap // kW) % kH) * Wp + tap % kW
    return offsets


@njit(nogil=True, cache=True, fastmath={"contract"})
def accumulate_taps(x_flat, packed_block, offsets, base, acc, L):
    """acc[r, :L] += sum over taps t of packed_block[t // 4, t % 4, r] * x_flat[base + offsets[t]:][:L]:
    four output channels, four taps per pass (see the module docstring)."""
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    for grp in range(packed_block.shape[0]):
        wg = packed_block[grp]
        t = 4 * grp
        o0, o1, o2, o3 = (base + offsets[t], base + offsets[t + 1], base + offsets[t + 2],
                          base + offsets[t + 3])
        x0, x1, x2, x3 = x_flat[o0:o0 + L], x_flat[o1:o1 + L], x_flat[o2:o2 + L], x_flat[o3:o3 + L]
        w00, w01, w02, w03 = wg[0, 0], wg[1, 0], wg[2, 0], wg[3, 0]
        w10, w11, w12, w13 = wg[0, 1], wg[1, 1], wg[2, 1], wg[3, 1]
        w20, w21, w22, w23 = wg[0, 2], wg[1, 2], wg[2, 2], wg[3, 2]
        w30, w31, w32, w33 = wg[0, 3], wg[1, 3], wg[2, 3], wg[3, 3]
        for p in range(L):  # each sum starts from the accumulator: four chained fused multiply-adds
            v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
            a0[p] = a0[p] + w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
            a1[p] = a1[p] + w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
            a2[p] = a2[p] + w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
            a3[p] = a3[p] + w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3


@njit(nogil=True, cache=True, fastmath={"contract"})
def accumulate_taps8(x_flat, block_a, block_b, offsets, acc, L):
    """accumulate_taps for eight output channels (two packed blocks) from x_flat[offsets[t]:], acc's rows
    0-3 and 4-7: each run loaded once for eight channels."""
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    a4, a5, a6, a7 = acc[4], acc[5], acc[6], acc[7]
    for grp in range(block_a.shape[0]):
        wg, wh = block_a[grp], block_b[grp]
        t = 4 * grp
        o0, o1, o2, o3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
        x0, x1, x2, x3 = x_flat[o0:o0 + L], x_flat[o1:o1 + L], x_flat[o2:o2 + L], x_flat[o3:o3 + L]
        w00, w01, w02, w03 = wg[0, 0], wg[1, 0], wg[2, 0], wg[3, 0]
        w10, w11, w12, w13 = wg[0, 1], wg[1, 1], wg[2, 1], wg[3, 1]
        w20, w21, w22, w23 = wg[0, 2], wg[1, 2], wg[2, 2], wg[3, 2]
        w30, w31, w32, w33 = wg[0, 3], wg[1, 3], wg[2, 3], wg[3, 3]
        w40, w41, w42, w43 = wh[0, 0], wh[1, 0], wh[2, 0], wh[3, 0]
        w50, w51, w52, w53 = wh[0, 1], wh[1, 1], wh[2, 1], wh[3, 1]
        w60, w61, w62, w63 = wh[0, 2], wh[1, 2], wh[2, 2], wh[3, 2]
        w70, w71, w72, w73 = wh[0, 3], wh[1, 3], wh[2, 3], wh[3, 3]
        for p in range(L):
            v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
            a0[p] = a0[p] + w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
            a1[p] = a1[p] + w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
            a2[p] = a2[p] + w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
            a3[p] = a3[p] + w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3
            a4[p] = a4[p] + w40 * v0 + w41 * v1 + w42 * v2 + w43 * v3
            a5[p] = a5[p] + w50 * v0 + w51 * v1 + w52 * v2 + w53 * v3
            a6[p] = a6[p] + w60 * v0 + w61 * v1 + w62 * v2 + w63 * v3
            a7[p] = a7[p] + w70 * v0 + w71 * v1 + w72 * v2 + w73 * v3


@njit(nogil=True, cache=True)
def aligned_rows(rows, length, dtype_like):
    """An uninitialised (rows, length rounded up to 16) array of dtype_like's dtype whose rows start on
    64-byte boundaries: the accumulators' vector loads and stores then never straddle two cache lines."""
    pitch = (length + 15) // 16 * 16
    step = 64 // dtype_like.itemsize
    buf = np.empty(rows * pitch + step, dtype=dtype_like.dtype)
    shift = (step - buf.ctypes.data // dtype_like.itemsize % step) % step
    return buf[shift:shift + rows * pitch].reshape(rows, pitch)


@njit(nogil=True, cache=True, fastmath={"contract"})
def _forward_loop(x_flat, C, Hp, Wp, L, packed, bias, y, kH, kW):
    # y = conv2d + bias of x_flat's padded (C, Hp, Wp) samples, on runs of L (_padded_part); see the
    # module docstring
    N, C_out, Ho, Wo = y.shape
    sample = C * Hp * Wp
    offsets = tap_offsets(packed.shape[1] * 4, C * kH * kW, kH, kW, Hp, Wp)
    acc = aligned_rows(8, L, y)
    blocks = packed.shape[0]
    for n in range(N):
        sample_offsets = offsets + n * sample
        for blk in range(0, blocks, 2):
            rows = 8 if blk + 1 < blocks else 4  # blocks in pairs; an odd last one alone
            for r in range(rows):
                acc[r, :] = bias[4 * blk + r]
            if rows == 8:
                accumulate_taps8(x_flat, packed[blk], packed[blk + 1], sample_offsets, acc, L)
            else:
                accumulate_taps(x_flat, packed[blk], sample_offsets, 0, acc, L)
            for r in range(min(rows, C_out - 4 * blk)):
                for ho in range(Ho):
                    y[n, 4 * blk + r, ho, :] = acc[r, ho * Wp:ho * Wp + Wo]


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def dot_products(x_flat, o0, o1, o2, o3, g0, g1, g2, g3, L, sums):
    """sums[i, j] += the dot product of g_i[:L] with x_flat[o_j:o_j + L]: four grad-output runs against
    four input runs in one pass, vectorised by reassociation, nothing stored in the loop."""
    zero = sums.dtype.type(0)
    x0, x1, x2, x3 = x_flat[o0:o0 + L], x_flat[o1:o1 + L], x_flat[o2:o2 + L], x_flat[o3:o3 + L]
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
    for p in range(L):
        v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
        h0, h1, h2, h3 = g0[p], g1[p], g2[p], g3[p]
        s00 += h0 * v0
        s01 += h0 * v1
        s02 += h0 * v2
        s03 += h0 * v3
        s10 += h1 * v0
        s11 += h1 * v1
        s12 += h1 * v2
        s13 += h1 * v3
        s20 += h2 * v0
        s21 += h2 * v1
        s22 += h2 * v2
        s23 += h2 * v3
        s30 += h3 * v0
        s31 += h3 * v1
        s32 += h3 * v2
        s33 += h3 * v3
    sums[0, 0] += s00
    sums[0, 1] += s01
    sums[0, 2] += s02
    sums[0, 3] += s03
    sums[1, 0] += s10
    sums[1, 1] += s11
    sums[1, 2] += s12
    sums[1, 3] += s13
    sums[2, 0] += s20
    sums[2, 1] += s21
    sums[2, 2] += s22
    sums[2, 3] += s23
    sums[3, 0] += s30
    sums[3, 1] += s31
    sums[3, 2] += s32
    sums[3, 3] += s33


@njit(nogil=True, cache=True)
def _weight_grad_loop(x_flat, C, Hp, Wp, L, gy, gw, kH, kW):
    # gw[co, tap] += the sum over samples and output pixels of gy[n, co, pixel] * x[n, tap's pixel], for
    # x_flat's padded (C, Hp, Wp) samples, on runs of L (_padded_part); gw is (C_out, taps) rounded up to
    # fours. See the module docstring.
    N, C_out, Ho, Wo = gy.shape
    sample = C * Hp * Wp
    offsets = tap_offsets(gw.shape[1], C * kH * kW, kH, kW, Hp, Wp)
    wide = aligned_rows(gw.shape[0], L, gw)  # grad planes on the pitch Wp; zero elsewhere (rows past C_out)
    wide[:] = 0
    for n in range(N):
        for co in range(C_out):
            for ho in range(Ho):
                wide[co, ho * Wp:ho * Wp + Wo] = gy[n, co, ho, :]
        base = n * sample
        for r in range(0, gw.shape[0], 4):
            g0, g1, g2, g3 = wide[r], wide[r + 1], wide[r + 2], wide[r + 3]
            for t in range(0, gw.shape[1], 4):
                o0, o1, o2, o3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
                dot_products(x_flat, base + o0, base + o1, base + o2, base + o3, g0, g1, g2, g3, L,
                             gw[r:r + 4, t:t + 4])
