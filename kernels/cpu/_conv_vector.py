"""Register-blocked conv2d forward on the CPU (float32, no dilation, one group): eight output channels (four
with AVX2) times two vectors of output pixels held in registers over every tap.

The wide-plane loop of kernels/cpu/_conv_direct.py adds each tap's input run into accumulator rows in
memory: per vector of outputs and four taps it loads and stores eight accumulators, and its rate was
bound by those loads and stores (~50 GFLOP/s per thread on an Intel Xeon whose FMA units reach ~150).
Here (kernels/cpu/_simd.py) the sixteen partial sums of eight channels for two runs of LANES pixels of an
output row stay in registers while the loop walks the C * kH * kW taps: each tap loads two input vectors
and eight weights (broadcast inside the fused multiply-adds with AVX-512) for sixteen FMAs, and the sums
are stored once (with AVX2's 16 registers, eight sums of four channels: CHANNELS). The two runs are any two of
a sample's (row, run) items in turn, so an odd count pairs across rows; the last run of a row starts at Wo -
LANES, overlapping the one before where LANES does not divide Wo (those pixels are computed twice, stored
twice, equal). Output channels past C_out get zero weights and are not stored.
One thread, ms, this loop / the wide-plane loop / PyTorch (one thread), 15 alternating rounds:
64x16x32x32 -> 32 (3x3, padding 1) 4.62 / 11.5 / 12.8; 64x3x32x32 -> 8 (5x5) 0.47 / 1.43 / 1.17.
It needs Wo >= LANES, and is routed to for Wo >= MIN_ROW; other layers keep the other loops. The batch is
split over threads as elsewhere (kernels/cpu/_batch_threads.py). Strides take the same sums: the padded input
is first split into phases (``_to_phases``: with stride 2, the even and odd rows and columns as four planes,
of which a 1x1 kernel reads one), on which a tap's run of outputs is again contiguous, and each tap reads
through an offset table (``tap_offsets``; stride 1 keeps plain loop strides, the table measured 1.1-1.5x
slower there). Strided layers went through im2col + GEMM before; two threads, ms, GEMM / this / PyTorch, 9
alternating rounds: 32x64x32x32 -> 128 3x3 stride 2 7.71 / 7.51 / 6.09, 1x1 stride 2 2.06 / 1.94 / 1.65,
32x3x64x64 -> 32 3x3 stride 2 2.16 / 0.99 / 0.61, 16x3x224x224 -> 64 7x7 stride 2 34.0 / 18.4 / 25.9.
kernels/cpu/_conv_batch_inner.py runs the same sums (``tap_sums``) on its (C, Hp, Wp, N) layout for small
planes (LeNet's second layer: Wo = 10), each vector holding LANES samples of one output pixel.
"""
import numpy as np
from numba import njit, uint64

from kernels._conv_im2col import _sample_bytes
from kernels.cpu import _conv_direct as conv_direct
from kernels.cpu._batch_threads import map_batch
from kernels.cpu._scratch import workspace
from kernels.cpu._simd import LANES, vfmas, vload, vsplats, vstores

# Output channels per block: with two vectors, 16 accumulators of AVX-512's 32 registers, or 8 of AVX2's 16
# (compiled for Haswell, NUMBA_CPU_NAME=haswell, with blocks of eight channels this loop spilled its sums
# and took 1.27-2.7x the other loops' time; with four it is the fastest of them where noted below).
CHANNELS = 8 if LANES == 16 else 4
ENABLED = True  # the tests switch it off to test the other loops on every machine
# With AVX2 it is routed to only for layers of at most this many input channels: compiled for Haswell
# and run on an AVX-512 Xeon (two threads, ms, other route / this loop), it won there (LeNet's first layer
# 0.85 / 0.62, 64x16x32x32 -> 32 3x3 7.68 / 5.44, 32x3x32x32 -> 64 2.22 / 1.23, 32x16x32x32 -> 64 1x1 1.85
# / 1.19, 32x3x64x64 -> 32 3x3 stride 2 1.59 / 1.09) and lost above it (32x64x32x32 -> 64 3x3: Winograd
# 14.5 / 22.2; 1x1 -> 128 6.17 / 7.51; 3x3 stride 2 -> 128: GEMM 9.79 / 13.4). None: no limit (AVX-512).
MAX_INPUT_CHANNELS = None if LANES == 16 else 16
# Output rows shorter than this keep the other loops (the loop itself needs LANES). With AVX2 (8 lanes),
# LeNet's second layer's input gradient (a forward of grad_y with rows of 14 pixels: two overlapping runs,
# six channels in two blocks of four) took 1.02 ms against the batch-inner loop's 0.81 and made a LeNet
# training step slower (6.13 against 5.62 ms); every layer where it won had rows of 16 or more.
MIN_ROW = 16


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs this file's loop for `use` (forward only: float32,
    no dilation, one group, Wo of at least MIN_ROW; any stride; with AVX2 at most MAX_INPUT_CHANNELS input
    channels)."""
    return (ENABLED and use == "forward" and g.groups == 1 and g.dilation == (1, 1) and g.Wo >= MIN_ROW
            and few_enough_channels(g) and x.dtype == w.dtype == np.float32
            and (b is None or b.dtype == np.float32))


def few_enough_channels(g):
    """Whether g's input channels are within MAX_INPUT_CHANNELS (AVX2; any count with AVX-512). The
    batch-inner layout's loop keeps the limit too: compiled for Haswell, 128x32x8x8 -> 24 took 1.55 ms
    through it against 1.36 through kernels/cpu/_conv_batch_inner.py's own loop."""
    return MAX_INPUT_CHANNELS is None or g.C <= MAX_INPUT_CHANNELS


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    x = np.ascontiguousarray(x)
    weights, bias = packed_weights(np.ascontiguousarray(w), b)
    (sh, sw), (ph, pw) = g.stride, g.padding
    Hq, Wq = -(-(g.H + 2 * ph) // sh), -(-(g.W + 2 * pw) // sw)  # the padded planes, per phase
    phases = (min(g.kH, sh), min(g.kW, sw))  # the phases some tap reads (a 1x1 kernel: one)
    offsets = None if sh == sw == 1 else tap_offsets(g.C, g.kH, g.kW, g.stride, phases, Hq, Wq)
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), x.dtype)

    def run(n0, n1):
        if sh == sw == 1:
            x_flat = conv_direct._padded_part(x, n0, n1, g)[0]
        else:
            x_flat = workspace("phases", ((n1 - n0) * g.C * phases[0] * phases[1] * Hq * Wq,), x.dtype)
            _to_phases(x[n0:n1], x_flat, ph, pw, sh, sw, phases[0], phases[1], Hq, Wq)
        _forward_loop(x_flat, (g.C, g.kH, g.kW, phases[0] * phases[1] * Hq * Wq, Wq), offsets, weights, bias,
                      y[n0:n1].reshape(-1), n1 - n0, g.C_out, g.Ho, g.Wo)

    map_batch(run, g.N, g.N * _sample_bytes(g))
    return y


@njit(nogil=True, cache=True)
def packed_weights(w, b):
    """(weights, bias): contiguous w (C_out, C, kH, kW) as a flat (blocks * taps, CHANNELS) array, row block
    * taps + tap holding that tap's weights for the block's CHANNELS output channels, and b as a vector,
    both zero past C_out; bias zero without b. (NumPy's pad, transpose and copy took ~7 us a call.)"""
    C_out = w.shape[0]
    taps = w.size // C_out
    blocks = (C_out + CHANNELS - 1) // CHANNELS
    rows = w.reshape(C_out, taps)
    weights = np.zeros(blocks * taps * CHANNELS, np.float32)
    bias = np.zeros(blocks * CHANNELS, np.float32)
    for co in range(C_out):
        first = co // CHANNELS * taps * CHANNELS + co % CHANNELS
        for t in range(taps):
            weights[first + t * CHANNELS] = rows[co, t]
        if b is not None:
            bias[co] = b[co]
    return weights, bias


def tap_offsets(C, kH, kW, stride, phases, Hq, Wq):
    """Where tap (c, kh, kw) (flat, in w's order) reads, from an output pixel's position on a phase plane.
    With stride (sh, sw) the padded input is split into phases, (C, PH, PW, Hq, Wq) (``_to_phases``; PH, PW
    = phases: those some tap reads), and tap (kh, kw) of output (ho, wo) reads phase (kh % sh, kw % sw) at
    (ho + kh // sh, wo + kw // sw). Stride 1: one phase, the padded plane itself."""
    (sh, sw), (PH, PW) = stride, phases
    c, kh, kw = np.meshgrid(np.arange(C), np.arange(kH), np.arange(kW), indexing="ij")
    phase = (c * PH + kh % sh) * PW + kw % sw
    return (phase * Hq * Wq + kh // sh * Wq + kw // sw).reshape(-1).astype(np.int64)


@njit(nogil=True, cache=True)
def _to_phases(x, out, ph, pw, sh, sw, PH, PW, Hq, Wq):
    # out (flat N, C, PH, PW, Hq, Wq)[n, c, p, q, i, j] = x zero-padded by ph, pw at (i * sh + p, j * sw + q),
    # zero past the padded plane
    N, C, H, W = x.shape
    src = x.reshape(-1)
    out[:] = 0
    for plane in range(N * C):
        for h in range(H):
            i, p = divmod(h + ph, sh)
            if p >= PH:
                continue
            for q in range(PW):
                v0 = (q - pw) % sw  # the first column of phase q
                s0 = uint64((plane * H + h) * W + v0)
                d0 = uint64(((plane * PH + p) * PW + q) * Hq * Wq + i * Wq + (v0 + pw) // sw)
                for k in range(uint64((W - v0 + sw - 1) // sw)):
                    out[d0 + k] = src[s0 + k * uint64(sw)]


@njit(nogil=True, cache=True)
def _forward_loop(x_flat, planes, offsets, weights, bias, y, N, C_out, Ho, Wo):
    # y (flat N, C_out, Ho, Wo) = conv2d + bias of x_flat's N samples, planes = (C, kH, kW, plane, Wq):
    # each of C channels `plane` elements, output pixel (ho, wo) at ho * Wq + wo of each (phase) plane;
    # offsets: None for stride 1 (tap_sums; Numba compiles that case on its own), else tap_offsets' table
    C, kH, kW, plane, Wq = planes
    sample = C * plane
    runs = (Wo + LANES - 1) // LANES  # per output row
    items = Ho * runs
    out_plane = Ho * Wo
    for n in range(N):
        for co in range(0, C_out, CHANNELS):
            for item in range(0, items, 2):
                ho_a, r_a = divmod(item, runs)
                ho_b, r_b = divmod(min(item + 1, items - 1), runs)
                wo_a, wo_b = min(r_a * LANES, Wo - LANES), min(r_b * LANES, Wo - LANES)
                start_a, start_b = n * sample + ho_a * Wq + wo_a, n * sample + ho_b * Wq + wo_b
                if offsets is None:
                    a, b = tap_sums(x_flat, start_a, start_b, C, kH, kW, (0, kH, 0, kW), plane, Wq, 1,
                                    weights, bias, co)
                else:
                    a, b = _sums_at(x_flat, start_a, start_b, offsets, weights, bias, co)
                # b first: where the pair is one item (an odd count's last), a's equal values land last
                count = min(CHANNELS, C_out - co)
                out = (n * C_out + co) * out_plane
                vstores(y, out + ho_b * Wo + wo_b, out_plane, count, b)
                vstores(y, out + ho_a * Wo + wo_a, out_plane, count, a)


@njit(nogil=True, cache=True, inline="always")
def tap_sums(x_flat, start_a, start_b, C, kH, kW, taps, plane, row, column, weights, bias, co):
    # two blocks of CHANNELS vectors: bias + the sum over taps (c, kh, kw) of the weights of channels co,
    # co + 1, ... times x_flat[start + c * plane + kh * row + kw * column:][:LANES], for the two starts
    # (stride 1), kh in range(taps[0], taps[1]) and kw in range(taps[2], taps[3])
    kh0, kh1, kw0, kw1 = taps
    a = vsplats(bias, co, CHANNELS)
    b = a
    for c in range(C):
        for kh in range(kh0, kh1):
            base_a = uint64(start_a + c * plane + kh * row)
            base_b = uint64(start_b + c * plane + kh * row)
            t = co * C * kH * kW + (c * kH + kh) * kW * CHANNELS  # tap (c, kh, 0) of co's block
            for kw in range(kw0, kw1):
                a = vfmas(a, vload(x_flat, base_a + uint64(kw * column)), weights, t + kw * CHANNELS)
                b = vfmas(b, vload(x_flat, base_b + uint64(kw * column)), weights, t + kw * CHANNELS)
    return a, b


@njit(nogil=True, cache=True, inline="always")
def _sums_at(x_flat, start_a, start_b, offsets, weights, bias, co):
    # tap_sums for any stride: tap t reads x_flat[start + offsets[t]:][:LANES] (tap_offsets). The table costs
    # a load per tap, and stride 1 keeps tap_sums: there the table measured 1.1-1.5x slower.
    a = vsplats(bias, co, CHANNELS)
    b = a
    first = co * offsets.size  # this block's first weight
    for t in range(offsets.size):
        a = vfmas(a, vload(x_flat, uint64(start_a + offsets[t])), weights, first + t * CHANNELS)
        b = vfmas(b, vload(x_flat, uint64(start_b + offsets[t])), weights, first + t * CHANNELS)
    return a, b
