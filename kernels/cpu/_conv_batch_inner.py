"""conv2d on the CPU with the batch as the innermost axis, for few output channels on small planes.

The direct loops of kernels/cpu/_conv_direct.py add one contiguous input run per tap into a "wide" output
plane of (Ho - 1) * Wp + Wo elements; on small planes (LeNet's second layer: 10x10 outputs on a 14-wide
pitch, runs of 136) each pass of four channels and four taps is short and its set-up dominates. Here the
padded input is copied to (C, Hp, Wp, N): output row ho of a channel, for every sample, is then one run of
Wo * N elements (640 for LeNet's second layer at batch 64), and tap (c, kh, kw) reads the input at that run
shifted by ((c * Hp + kh) * Wp + kw) * N; no column of the run is wasted. The passes are the same as the
direct forward's (_conv_direct.accumulate_taps); work items are (output row, block of four channels,
chunk of the row), spread over Numba's threads. kernels/cpu/conv.py also runs the input gradient of
"same"-padded layers through it (a conv of grad_y, _conv_direct.grad_input). The weight gradient takes
the same layout (grad_y too, as (C_out, Ho, Wo, N)): each item is a block of four channels against a group
of four taps, its 16 dot products (_conv_direct.dot_products) summed over every output row.
Two threads, ms, this loop against the one conv.py took before: LeNet's second layer (64x6x14x14 -> 16,
5x5) 0.41-0.55 -> 0.31-0.35 (wide-plane loop); 64x16x8x8 -> 32 (3x3, padding 1) 0.58-0.61 -> 0.36-0.39,
128x32x8x8 -> 24 1.61-1.71 -> 1.10-1.41, 64x32x7x7 -> 32 0.88 -> 0.65 (im2col + GEMM). Weight gradient:
LeNet's second layer 0.57 -> 0.34 (wide-plane loop); 64x16x8x8 -> 32 0.91 -> 0.53, 128x32x8x8 -> 24
2.42 -> 1.19, 64x32x7x7 -> 32 1.01 -> 0.52 (im2col + GEMM).
float32 forwards with a batch of LANES or more (``takes_vector_loop``) run ``vector_forward`` instead: the
register-blocked sums of kernels/cpu/_conv_vector.py, each work item a part of the batch in this layout.
"""
import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from kernels.cpu import _conv_direct as conv_direct
from kernels.cpu import _conv_vector as conv_vector
from kernels.cpu._scratch import workspace
from kernels.cpu._conv_vector import CHANNELS
from kernels.cpu._simd import LANES, vloads, vstores, vtranspose

# Chunks of an output row hold whole columns of the batch and about this many elements: four accumulator
# rows and four input runs of 1,024 float32 stay within L1 and L2 (64x6x14x14 -> 16: 0.42 ms single-threaded
# at 512, 0.36 at 1,024 and 2,048; 64x16x32x32 -> 32: 11.5, 11.0, 10.0).
CHUNK = 1024
# Where the direct forward's wide runs ((Ho - 1) * Wp + Wo) reach this length it is as fast without the
# two layout copies (two threads, ms, wide / here / im2col + GEMM): runs of 286, 64x32x16x16 -> 32 (3x3,
# padding 1) 2.98 / 3.52 / 3.19, 64x16x16x16 -> 16 0.85 / 0.88 / 1.49; runs of 136, LeNet's second layer
# 0.41 / 0.31 / 0.51; runs of 78 (which went to the GEMM), 128x32x8x8 -> 24 1.91 / 1.41 / 1.71.
MAX_WIDE_RUN = 256
# Rows (Wo * N) shorter than this (small batches) keep the other paths: LeNet's second layer at batch 1,
# 2, 4 (rows of 10, 20, 40): 0.026 / 0.044 / 0.030, 0.037 / 0.048 / 0.040, 0.058 / 0.057 / 0.060;
# 16x16x8x8 -> 32 (rows of 128): 0.29 / 0.14 / 0.21.
MIN_ROW_RUN = 64


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs here, for `use` "forward" or "weight_grad" alike."""
    wide_run = (g.Ho - 1) * (g.W + 2 * g.padding[1]) + g.Wo
    return (conv_direct.plain_float(g, x, w, b) and g.C_out <= conv_direct.DIRECT_MAX_OUT
            and wide_run < MAX_WIDE_RUN and g.Wo * g.N >= MIN_ROW_RUN)


def takes_vector_loop(g, x):
    """Whether ``forward`` runs kernels/cpu/_conv_vector.py's register-blocked loop on this layout: float32
    with a batch of LANES or more (and with AVX2 few input channels: conv_vector.few_enough_channels). Two
    threads, ms, this file's loop / that one (taps reading only padding skipped), 15 alternating rounds:
    LeNet's second layer 0.31 / 0.22, 64x16x8x8 -> 32 0.39 / 0.30, 128x32x8x8 -> 24 1.00 / 0.85, 64x32x8x8
    -> 16 5x5 padding 2 0.76 / 0.53. (A session before, without the skipping, it lost where one run's
    input rows passed L1: 128x32x8x8 -> 24 1.27 / 1.67.)"""
    return (conv_vector.ENABLED and x.dtype == np.float32 and g.N >= LANES
            and conv_vector.few_enough_channels(g))


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    if takes_vector_loop(g, x):
        return vector_forward(x, w, b, g)
    xt = batch_inner(x, g.padding, "batch_inner_x")
    Hp, Wp = xt.shape[1], xt.shape[2]
    packed, bias = conv_direct.packed_weights(w, b)
    offsets = conv_direct.tap_offsets(packed.shape[1] * 4, g.C * g.kH * g.kW, g.kH, g.kW, Hp, Wp) * g.N
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), x.dtype)
    _rows(xt.reshape(-1), packed, bias, offsets, y, Wp, max(1, CHUNK // g.N) * g.N)
    return y


def batch_inner(x, padding, slot):
    """x (N, C, H, W) zero-padded by padding = (ph, pw) and laid out as (C, Hp, Wp, N), in this thread's
    workspace `slot` (kernels/cpu/_scratch.py: reused across calls, not page-faulted in afresh; LeNet's
    second layer's forward allocated 300 KB for it on every call)."""
    N, C, H, W = x.shape
    ph, pw = padding
    xt = workspace(slot, (C, H + 2 * ph, W + 2 * pw, N), x.dtype)
    _to_batch_inner(np.ascontiguousarray(x), xt, ph, pw)
    return xt


@njit(nogil=True, cache=True, parallel=True)
def _to_batch_inner(x, xt, ph, pw):
    # xt (C, Hp, Wp, N) = x (N, C, H, W) zero-padded by ph rows and pw columns; one item per channel, its
    # (N, H * W) samples transposed by ``_transpose``: straight into xt[c] without padding, else into a
    # scratch plane copied in row by row (two threads, us, one element at a time / in tiles: LeNet's second
    # layer's 64x6x14x14 49 / 15-17, its grad_y 64x16x10x10 63-69 / 22-24; padded by 4, 93 / 86: most of it
    # the padded copy's writes)
    N, C, H, W = x.shape
    x_flat = x.reshape(-1)
    for c in prange(C):
        if ph == 0 and pw == 0:
            _transpose(x_flat, c * H * W, C * H * W, N, H * W, xt[c].reshape(-1), 0, N)
        else:
            plane = np.empty(H * W * N, x.dtype)
            _transpose(x_flat, c * H * W, C * H * W, N, H * W, plane, 0, N)
            _into_padded(plane, xt[c], ph, pw)


@njit(nogil=True, cache=True)
def _into_padded(plane, padded, ph, pw):
    # padded (Hp, Wp, n) = the flat (H, W, n) plane with ph rows and pw columns of zeros on each side
    Hp, Wp, n = padded.shape
    H, W = Hp - 2 * ph, Wp - 2 * pw
    for h in range(Hp):
        if h < ph or h >= ph + H:
            padded[h] = 0
        else:
            padded[h, :pw] = 0
            padded[h, pw + W:] = 0
            padded[h, pw:pw + W] = plane[(h - ph) * W * n:(h - ph + 1) * W * n].reshape((W, n))


@njit(nogil=True, cache=True, parallel=True)
def _rows(flat, packed, bias, offsets, y, Wp, chunk):
    # y = conv2d + bias from the batch-inner padded input `flat`; see the module docstring
    N, C_out, Ho, Wo = y.shape
    row = Wo * N
    chunk = min(chunk, row)
    chunks = (row + chunk - 1) // chunk
    blocks = packed.shape[0]
    for item in prange(Ho * blocks * chunks):
        ho = item // (blocks * chunks)
        blk = (item // chunks) % blocks
        q0 = (item % chunks) * chunk
        L = min(chunk, row - q0)
        acc = np.empty((4, chunk + 16), dtype=y.dtype)  # + 16: rows 4 KiB apart slowed the stores
        for r in range(4):
            acc[r, :L] = bias[4 * blk + r]
        conv_direct.accumulate_taps(flat, packed[blk], offsets, ho * Wp * N + q0, acc, L)
        wo0 = q0 // N
        for r in range(min(4, C_out - 4 * blk)):
            for n in range(N):
                for j in range(L // N):
                    y[n, 4 * blk + r, ho, wo0 + j] = acc[r, j * N + n]


def vector_forward(x, w, b, g):
    """conv2d(x, w) + b for a float32 stride-1 geometry g that ``takes_vector_loop``, by
    kernels/cpu/_conv_vector.py's register-blocked sums on this layout: each vector holds LANES samples of
    one output pixel, two pixels of a row per pass. The batch goes in parts of at least LANES samples (and,
    where there are fewer parts than threads, the output channels in groups), one work item each in one
    parallel loop: the item lays out its own part as (C, Hp, Wp, n) and writes its sums as (channels, Ho,
    Wo, n), both in its own row of a workspace, and both layout changes go in LANES x LANES tiles
    transposed in registers (``_transpose``). Before, the whole batch was laid out by one parallel loop
    and read by another, and each vector of sums was stored lane by lane into y (LANES lines per store).
    LeNet's second layer, two threads, ms (ratio to PyTorch's in the same run), four runs each:
    kernels.bench (each round 0.25 s idle, then 1 + 3 calls) 0.35-0.50 (1.41-1.71) -> 0.32-0.41
    (1.25-1.40); after 50 ms of calls (both vCPUs awake, as in training) 0.27-0.68 (1.04-2.49) -> 0.21-0.24
    (0.82-0.86). Taps that read only padding are skipped: the input gradient of a valid layer is a forward
    of grad_y padded by k - 1."""
    ph, pw = g.padding
    parts = max(1, g.N // LANES)  # each of at least LANES samples
    blocks = -(-g.C_out // CHANNELS)
    groups = min(blocks, -(-numba.get_num_threads() // parts))
    part = -(-g.N // parts)  # the largest
    x_size = _whole_lines(g.C * (g.H + 2 * ph) * (g.W + 2 * pw) * part)
    y_size = _whole_lines(max(-(-blocks // groups) * CHANNELS * g.Ho * g.Wo, g.H * g.W) * part)
    items = workspace("vector_items", (parts * groups, x_size + y_size), np.float32)
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), np.float32)
    _vector_loop(np.ascontiguousarray(x), np.ascontiguousarray(w), b, y, ph, pw, parts, groups, items, x_size)
    return y


def _whole_lines(count):
    """count float32 rounded up to whole 64-byte lines (16 of them): each item's rows start on a line."""
    return -(-count // 16) * 16


@njit(nogil=True, cache=True, parallel=True)
def _vector_loop(x, w, b, y, ph, pw, parts, groups, items, x_size):
    # y = conv2d(x, w) + b, see vector_forward: items (part of the batch, group of channel blocks) over
    # the threads, each with its own row of `items`: its part of x laid out from 0, its sums from x_size
    weights, bias = conv_vector.packed_weights(w, b)
    kH, kW = w.shape[2], w.shape[3]
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    C_out, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    blocks = (C_out + CHANNELS - 1) // CHANNELS
    x_flat, y_flat = x.reshape(-1), y.reshape(-1)
    for item in prange(parts * groups):
        p, grp = item // groups, item % groups
        lo, hi = N * p // parts, N * (p + 1) // parts
        blk0, blk1 = blocks * grp // groups, blocks * (grp + 1) // groups
        n = hi - lo
        xt = items[item, :C * Hp * Wp * n].reshape((C, Hp, Wp, n))
        yt = items[item, x_size:]  # (channels of the group, Ho, Wo, n), flat
        for c in range(C):  # x's (samples, pixels) -> xt's (pixels, samples), one channel at a time
            src = (lo * C + c) * H * W
            if ph == pw == 0:
                _transpose(x_flat, src, C * H * W, n, H * W, xt[c].reshape(-1), 0, n)
            else:  # into yt's space first (free until the sums), then row by row into the padded plane
                _transpose(x_flat, src, C * H * W, n, H * W, yt, 0, n)
                _into_padded(yt, xt[c], ph, pw)
        xt_flat = xt.reshape(-1)
        for blk in range(blk0, blk1):
            co = blk * CHANNELS
            for ho in range(Ho):
                kh0 = max(0, ph - ho)  # the rows of x the row's taps read
                kh1 = max(kh0, min(kH, ph + H - ho))
                for n_run in range(0, n, LANES):  # the last run starts at n - LANES
                    n0 = min(n_run, n - LANES)
                    for wo_a in range(0, Wo, 2):  # pixels in pairs, an odd row's last alone
                        wo_b = min(wo_a + 1, Wo - 1)
                        kw0 = max(0, pw - wo_b)  # the columns either pixel reads of x
                        kw1 = max(kw0, min(kW, pw + W - wo_a))
                        start_a, start_b = (ho * Wp + wo_a) * n + n0, (ho * Wp + wo_b) * n + n0
                        taps = (kh0, kh1, kw0, kw1)
                        sums_a, sums_b = conv_vector.tap_sums(xt_flat, start_a, start_b, C, kH, kW, taps,
                                                              Hp * Wp * n, Wp * n, n, weights, bias, co)
                        out = ((co - blk0 * CHANNELS) * Ho + ho) * Wo
                        vstores(yt, (out + wo_b) * n + n0, Ho * Wo * n, CHANNELS, sums_b)
                        vstores(yt, (out + wo_a) * n + n0, Ho * Wo * n, CHANNELS, sums_a)
        pixels = Ho * Wo
        for c in range(blk0 * CHANNELS, min(blk1 * CHANNELS, C_out)):  # yt's (pixels, n) -> y's (n, pixels)
            first = (c - blk0 * CHANNELS) * pixels * n
            _transpose(yt, first, n, pixels, n, y_flat, (lo * C_out + c) * pixels, C_out * pixels)


def _transpose(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch):
    """dst[d0 + j * dst_pitch + i] = src[s0 + i * src_pitch + j] for i < rows, j < cols (flat arrays of one
    dtype), inside @njit code. float32: in LANES x LANES tiles transposed in registers where rows and cols
    are at least LANES (the last tile of each overlapping the one before); else, and for other dtypes, one
    element at a time. LeNet's second layer's 16 x 100 x 16 sums of a part: 19.0 us one by one, 3.3 in
    tiles."""
    _one_by_one(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch)


@njit(nogil=True, cache=True)
def _one_by_one(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch):
    for j in range(cols):
        for i in range(rows):
            dst[d0 + j * dst_pitch + i] = src[s0 + i * src_pitch + j]


@overload(_transpose, jit_options={"nogil": True})
def _transpose_for(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch):
    if src.dtype != types.float32:
        return _transpose

    def in_tiles(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch):
        if rows < LANES or cols < LANES:
            _one_by_one(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch)
            return
        for i_run in range(0, rows, LANES):
            i0 = min(i_run, rows - LANES)
            for j_run in range(0, cols, LANES):
                j0 = min(j_run, cols - LANES)
                tile = vtranspose(vloads(src, s0 + i0 * src_pitch + j0, src_pitch, LANES))
                vstores(dst, d0 + j0 * dst_pitch + i0, dst_pitch, LANES, tile)
    return in_tiles


def weight_grad(grad_y, x, g):
    """The gradient of sum(grad_y * conv2d(x, w)) with respect to w (C_out, C, kH, kW), for a geometry g
    that ``applies``: each (block of four output channels, group of four taps) takes its 16 sums over every
    output row, one item per thread at a time (no partial sums to add up)."""
    taps = g.C * g.kH * g.kW
    xt = batch_inner(x, g.padding, "batch_inner_x")
    Hp, Wp = xt.shape[1], xt.shape[2]
    gyt = workspace("batch_inner_gy", (conv_direct.blocked(g.C_out), g.Ho, g.Wo, g.N), x.dtype)
    _to_batch_inner(np.ascontiguousarray(grad_y), gyt[:g.C_out], 0, 0)
    gyt[g.C_out:] = 0  # the block's channels past C_out
    count = conv_direct.blocked(taps)
    offsets = conv_direct.tap_offsets(count, taps, g.kH, g.kW, Hp, Wp) * g.N
    gw = np.empty((gyt.shape[0], count), x.dtype)
    _weight_grad_rows(xt.reshape(-1), gyt.reshape(gyt.shape[0], g.Ho, -1), offsets, gw, Wp * g.N)
    return np.ascontiguousarray(gw[:g.C_out, :taps]).reshape(g.C_out, g.C, g.kH, g.kW)


@njit(nogil=True, cache=True, parallel=True)
def _weight_grad_rows(flat, gyt, offsets, gw, pitch):
    # gw[co, t] = sum over rows ho and q < Wo * N of gyt[co, ho, q] * flat[ho * pitch + offsets[t] + q]
    groups = gw.shape[1] // 4
    Ho, row = gyt.shape[1], gyt.shape[2]
    for item in prange(gw.shape[0] // 4 * groups):
        r = item // groups * 4
        t = item % groups * 4
        sums = np.zeros((4, 4), dtype=gw.dtype)
        for ho in range(Ho):
            base = ho * pitch
            conv_direct.dot_products(flat, base + offsets[t], base + offsets[t + 1], base + offsets[t + 2],
                                     base + offsets[t + 3], gyt[r, ho], gyt[r + 1, ho], gyt[r + 2, ho],
                                     gyt[r + 3, ho], row, sums)
        gw[r:r + 4, t:t + 4] = sums
