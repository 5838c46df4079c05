"""conv2d forward and weight gradient for 3x3, stride-1 layers with many channels: Winograd's F(2x2, 3x3).

Each 2x2 block of outputs ("tile") comes from the 4x4 input patch under it: with the patch d and the
3x3 kernel g transformed as V = B^T d B and U = G g G^T (4x4 each), the tile is A^T (U * V) A, and the sum
over input channels of U * V is, for each of the 16 positions, a product (C_out x C) @ (C x tiles): 16
GEMMs with 16 multiplies per four outputs instead of 36, at the cost of two cheap transforms (adds only).
The batch is split over threads (kernels/cpu/_batch_threads.py) and each part goes a few samples at a
time, so the transformed tiles stay in cache between the transform, the GEMMs and the output transform.
The transforms run as long contiguous loops: the padded input is first split into four planes by row and
column parity (_phase_planes), on which each element of a tile's patch is at a fixed offset from the
tile's index; the tiles are numbered on a grid one tile wider than the output's (the extra column's tiles
are computed and dropped, 1/17 more GEMM work on 32x32 planes). On an Intel Xeon (2 vCPUs, AVX-512) the
earlier per-row loops of 16 tiles with stride-2 reads (compiled to gathers) spent 16.2 ms per 32x64x32x32
-> 64 call in the transforms, these 10.0 (one thread); the whole forward 19.6 -> 16.1 ms on two threads.
The weight gradient takes the same input tiles and those of grad_y (``weight_grad``): 16 GEMMs whose
inner dimension is the tiles. It runs only where it measured faster than the GEMM and the direct loops:
compiled for AVX2, from WEIGHT_GRAD_MIN_PIXELS output pixels up (figures there).
The transforms' entries are 0, +-1 and +-1/2: float32 results differ from the direct sum by a few
rounding errors of the inputs' size (tests/kernels/test_conv_winograd.py bounds them).
"""
import numpy as np
from numba import njit, uint64

from kernels._conv_im2col import _sample_bytes
from kernels.cpu import _conv_direct as conv_direct
from kernels.cpu._batch_threads import map_batch
from kernels.cpu._scratch import workspace
from kernels.cpu._simd import LANES

# G of F(2x2, 3x3); B^T and A^T (entries 0 and +-1) are written out in _input_tiles and _output_tiles
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

MIN_CHANNELS = 33  # fewer input or output channels: the direct loops (kernels/cpu/_conv_direct.py)
# Output pixels per plane: two threads, ms, im2col + GEMM / this: 32x64x32x32 -> 64 18.4 / 10.7,
# 32x64x16x16 -> 128 8.1 / 7.3, 64x64x12x12 -> 64 6.2 / 5.4, 1x64x32x32 -> 64 1.27 / 1.09; on 8x8 planes
# (32x128 -> 128) 4.3 / 6.4 and 7.6 / 6.3 in two runs, 3x40x7x9 -> 36 0.13 / 0.26.
MIN_PLANE = 144
CHUNK_BYTES = 2 << 20  # transformed input tiles per GEMM batch
WEIGHT_GRAD_CHUNK_BYTES = 8 << 20  # transformed input and grad tiles per GEMM batch (weight gradient)
# The weight gradient, GEMM / this, two threads, ms, medians of 11 alternating rounds on an Intel Xeon. With
# AVX-512 it never won: 32x64x16x16 -> 64 8.7 / 11.4, 32x128x16x16 -> 128 19.8 / 26.3, 32x256x16x16 -> 256
# 50.4 / 77.0, 32x64x12x12 -> 64 4.1 / 6.3, 16x256x32x32 -> 256 122 / 132 (and where the direct loops apply,
# they beat both: kernels/cpu/_conv_direct.py). Compiled for AVX2 (Haswell code there, OpenBLAS's Haswell
# kernels), by output pixels N * Ho * Wo: 8x128x28x28 (6,272) 16.4 / 20.9, 32x64x16x16 (8,192) 8.1 / 9.1,
# 64x64x16x16 and 16x64x32x32 (16,384) 13.5 / 13.6 and 12.8 / 12.7, 32x64x24x24 (18,432) 18.9 / 15.9,
# 32x64x32x32 24.4 / 22.0, 32x128x28x28 88.6 / 70.4, 16x64x56x56 38.6 / 33.7 (the set-up is paid per call,
# the saving per pixel). None: not taken.
WEIGHT_GRAD_MIN_PIXELS = None if LANES == 16 else 1 << 14


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs here for `use` ("forward" or "weight_grad")."""
    if use == "weight_grad" and not (WEIGHT_GRAD_MIN_PIXELS and g.N * g.Ho * g.Wo >= WEIGHT_GRAD_MIN_PIXELS):
        return False
    return (use in ("forward", "weight_grad") and g.kH == 3 and g.kW == 3
            and conv_direct.plain_float(g, x, w, b) and g.C >= MIN_CHANNELS and g.C_out >= MIN_CHANNELS
            and g.Ho * g.Wo >= MIN_PLANE)


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    u = _weight_tiles(w)
    bias = np.zeros(g.C_out, dtype) if b is None else np.ascontiguousarray(b, dtype)
    tiles_h, wide = _grid(g)
    per_sample = 16 * g.C * tiles_h * wide * dtype.itemsize
    samples = max(1, CHUNK_BYTES // per_sample)
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), dtype)

    def run(n0, n1):
        for s0 in range(n0, n1, samples):
            s1 = min(s0 + samples, n1)
            v = _transformed_input(x[s0:s1], g, tiles_h, wide)
            m = workspace("winograd_m", (16, g.C_out, v.shape[2]), dtype)
            for k in range(16):
                np.matmul(u[k], v[k], out=m[k])
            _output_tiles(m, bias, y[s0:s1], tiles_h, wide)

    map_batch(run, g.N, g.N * _sample_bytes(g))
    return y


def weight_grad(grad_y, x, g):
    """The gradient of sum(grad_y * conv2d(x, w)) with respect to w (C_out, C, 3, 3), for a geometry g that
    ``applies``: with V the input's tiles (as in forward) and Z = A z A^T those of grad_y (z the 2x2 grad
    tile), the gradient of U is, per position, Z @ V^T summed over tiles (16 GEMMs whose inner dimension is
    the tiles), and that of w is G^T dU G. Each part of the batch sums its own; the parts are added in
    order."""
    dtype = x.dtype
    x, grad_y = np.ascontiguousarray(x), np.ascontiguousarray(grad_y)
    tiles_h, wide = _grid(g)
    per_sample = 16 * (g.C + g.C_out) * tiles_h * wide * dtype.itemsize
    samples = max(1, WEIGHT_GRAD_CHUNK_BYTES // per_sample)

    def run(n0, n1):
        du = np.zeros((16, g.C_out, g.C), dtype)
        product = np.empty((g.C_out, g.C), dtype)
        for s0 in range(n0, n1, samples):
            s1 = min(s0 + samples, n1)
            v = _transformed_input(x[s0:s1], g, tiles_h, wide)
            phases = workspace("winograd_gy", (s1 - s0, g.C_out, 4, tiles_h * wide), dtype)
            _phase_planes(grad_y[s0:s1], phases, 0, 0, wide)
            z = workspace("winograd_m", (16, g.C_out, v.shape[2]), dtype)
            _grad_tiles(phases, z)
            for k in range(16):
                np.matmul(z[k], v[k].T, out=product)
                du[k] += product
        return du

    parts = map_batch(run, g.N, g.N * _sample_bytes(g))
    du = parts[0]
    for part in parts[1:]:
        du += part
    gm = _G.astype(dtype)
    return np.ascontiguousarray(np.einsum("ia,ijoc,jb->ocab", gm, du.reshape(4, 4, g.C_out, g.C), gm))


def _grid(g):
    """(tile rows, tiles per row) of the wide grid (see _input_tiles): one tile more per row, dropped."""
    return (g.Ho + 1) // 2, (g.Wo + 1) // 2 + 1


def _transformed_input(x, g, tiles_h, wide):
    """V of samples x (16, C, samples * tiles_h * wide), in the calling thread's workspace."""
    phases = workspace("winograd_x", (x.shape[0], g.C, 4, (tiles_h + 1) * wide + 1), x.dtype)
    _phase_planes(x, phases, g.padding[0], g.padding[1], wide)
    v = workspace("winograd_v", (16, g.C, x.shape[0] * tiles_h * wide), x.dtype)
    _input_tiles(phases, v, tiles_h, wide)
    return v


def _weight_tiles(w):
    """U (16, C_out, C): U[4 i + j, co, c] = (G w[co, c] G^T)[i, j], as two products with G."""
    C_out, C = w.shape[:2]
    g = _G.astype(w.dtype)
    wg = (w.reshape(-1, 3) @ g.T).reshape(C_out * C, 3, 4)  # [oc, k, j] = (w G^T)[k, j]
    u = (wg.transpose(0, 2, 1).reshape(-1, 3) @ g.T).reshape(C_out, C, 4, 4)  # [o, c, j, i]
    return np.ascontiguousarray(u.transpose(3, 2, 0, 1)).reshape(16, C_out, C)


@njit(nogil=True, cache=True)
def _phase_planes(x, phases, ph, pw, wide):
    # phases[n, c, 2 a + b, p * wide + q] = x zero-padded by (ph, pw) at row 2 p + a, column 2 q + b: the
    # padded planes split by row and column parity, so that every element a tile takes is at a fixed
    # offset from the tile's own index in each of the four (see _input_tiles)
    N, C, H, W = x.shape
    phases[:] = 0
    for n in range(N):
        for c in range(C):
            for r in range(H):
                row = x[n, c, r]
                even, odd = phases[n, c, 2 * ((r + ph) % 2)], phases[n, c, 2 * ((r + ph) % 2) + 1]
                base = (r + ph) // 2 * wide
                for j in range(W):
                    col = j + pw
                    if col % 2 == 0:
                        even[base + col // 2] = row[j]
                    else:
                        odd[base + col // 2] = row[j]


@njit(nogil=True, cache=True)
def _input_tiles(phases, v, tiles_h, wide):
    # v[4 i + j, c, n * tiles_h * wide + f] = (B^T d B)[i, j], d the 4x4 patch of sample n's padded plane
    # c at row 2 th, column 2 tw, for the tile f = th * wide + tw of a "wide" grid: its last column of tiles
    # (tw = wide - 1) is computed and dropped by _output_tiles. Patch row 2 th + r, column 2 tw + s is
    # phase plane (r % 2, s % 2) at f + (r // 2) * wide + s // 2, so each step below is one long
    # contiguous loop over f (no stride-2 reads: per-row loops of 16 tiles with gathers ran 3x slower)
    N, C = phases.shape[0], phases.shape[1]
    T = tiles_h * wide
    rows = np.empty((8, T + 1), dtype=v.dtype)  # rows[2 i + b]: row i of B^T d, columns of parity b
    rows[:, T] = 0  # read (f + 1) only for the dropped last tile
    for c in range(C):
        for n in range(N):
            planes = phases[n, c]
            for b in range(2):  # B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
                even_rows, odd_rows = planes[b], planes[2 + b]
                r0, r1, r2, r3 = rows[b], rows[2 + b], rows[4 + b], rows[6 + b]
                for f in range(T):
                    d0, d1, d2, d3 = even_rows[f], odd_rows[f], even_rows[f + wide], odd_rows[f + wide]
                    r0[f] = d0 - d2
                    r1[f] = d1 + d2
                    r2[f] = d2 - d1
                    r3[f] = d1 - d3
            o = n * T
            for i in range(4):  # (B^T d) B: the same combinations of the columns
                even, odd = rows[2 * i], rows[2 * i + 1]
                v0, v1 = v[4 * i, c, o:o + T], v[4 * i + 1, c, o:o + T]
                v2, v3 = v[4 * i + 2, c, o:o + T], v[4 * i + 3, c, o:o + T]
                for f in range(T):
                    e0, e1, e2, e3 = even[f], odd[f], even[f + 1], odd[f + 1]
                    v0[f] = e0 - e2
                    v1[f] = e1 + e2
                    v2[f] = e2 - e1
                    v3[f] = e1 - e3


@njit(nogil=True, cache=True)
def _output_tiles(m, bias, y, tiles_h, wide):
    # y[n, co, 2 th + i, 2 tw + j] = (A^T M A)[i, j] + bias, M the 4x4 of m[:, co, tile] on _input_tiles's
    # wide grid: first the four outputs of every tile in one contiguous loop, then each output row
    # interleaved from two of them (unsigned offsets: no negative-index branch, so the stores vectorise)
    N, C_out, Ho, Wo = y.shape
    T = tiles_h * wide
    out = np.empty((4, T), dtype=y.dtype)  # out[2 i + j, f]
    y00, y01, y10, y11 = out[0], out[1], out[2], out[3]
    y_flat = y.reshape(-1)
    pairs = uint64(Wo // 2)
    for n in range(N):
        o, e = n * T, (n + 1) * T
        for co in range(C_out):
            bc = bias[co]
            # one contiguous row view each (a 2-D view's rows measured 2.5x slower: strided layout)
            m0, m1, m2, m3 = m[0, co, o:e], m[1, co, o:e], m[2, co, o:e], m[3, co, o:e]
            m4, m5, m6, m7 = m[4, co, o:e], m[5, co, o:e], m[6, co, o:e], m[7, co, o:e]
            m8, m9, m10, m11 = m[8, co, o:e], m[9, co, o:e], m[10, co, o:e], m[11, co, o:e]
            m12, m13, m14, m15 = m[12, co, o:e], m[13, co, o:e], m[14, co, o:e], m[15, co, o:e]
            for f in range(T):  # A^T M: rows m0 + m1 + m2 and m1 - m2 - m3; then the same on columns
                s0, s1 = m0[f] + m4[f] + m8[f], m4[f] - m8[f] - m12[f]
                t0, t1 = m1[f] + m5[f] + m9[f], m5[f] - m9[f] - m13[f]
                u0, u1 = m2[f] + m6[f] + m10[f], m6[f] - m10[f] - m14[f]
                w0, w1 = m3[f] + m7[f] + m11[f], m7[f] - m11[f] - m15[f]
                y00[f] = s0 + t0 + u0 + bc
                y01[f] = t0 - u0 - w0 + bc
                y10[f] = s1 + t1 + u1 + bc
                y11[f] = t1 - u1 - w1 + bc
            for r in range(Ho):
                even, odd = out[2 * (r % 2)], out[2 * (r % 2) + 1]
                src = uint64(r // 2 * wide)
                dst = uint64(((n * C_out + co) * Ho + r) * Wo)
                for q in range(pairs):
                    y_flat[dst + uint64(2) * q] = even[src + q]
                    y_flat[dst + uint64(2) * q + uint64(1)] = odd[src + q]
                if Wo % 2:
                    y_flat[dst + uint64(Wo - 1)] = even[src + pairs]


@njit(nogil=True, cache=True)
def _grad_tiles(phases, z):
    # z[4 i + j, co, n * T + f] = (A z A^T)[i, j] for the 2x2 grad tile at row 2 th, column 2 tw, taken from
    # grad_y's parity planes (zero past the plane: the dropped tiles of the wide grid contribute nothing).
    # A z has rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d) for z = [[a, b], [c, d]]; each row
    # (p, q) then becomes (p, p + q, p - q, -q)
    N, C_out, T = phases.shape[0], phases.shape[1], phases.shape[3]
    for co in range(C_out):
        for n in range(N):
            za, zb, zc, zd = phases[n, co, 0], phases[n, co, 1], phases[n, co, 2], phases[n, co, 3]
            o = n * T
            for i in range(4):
                z0, z1 = z[4 * i, co, o:o + T], z[4 * i + 1, co, o:o + T]
                z2, z3 = z[4 * i + 2, co, o:o + T], z[4 * i + 3, co, o:o + T]
                for f in range(T):
                    if i == 0:
                        p, q = za[f], zb[f]
                    elif i == 1:
                        p, q = za[f] + zc[f], zb[f] + zd[f]
                    elif i == 2:
                        p, q = za[f] - zc[f], zb[f] - zd[f]
                    else:
                        p, q = -zc[f], -zd[f]
                    z0[f] = p
                    z1[f] = p + q
                    z2[f] = p - q
                    z3[f] = -q
