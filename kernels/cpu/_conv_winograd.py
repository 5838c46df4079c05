"""conv2d forward for 3x3, stride-1 layers with many channels: Winograd's F(2x2, 3x3).

Each 2x2 block of outputs ("tile") comes from the 4x4 input patch under it: with the patch d and the
3x3 kernel g transformed as V = B^T d B and U = G g G^T (4x4 each), the tile is A^T (U * V) A, and the sum
over input channels of U * V is, for each of the 16 positions, a product (C_out x C) @ (C x tiles): 16
GEMMs with 16 multiplies per four outputs instead of 36, at the cost of two cheap transforms (adds only).
The batch is split over threads (kernels/cpu/_batch_threads.py) and each part goes a few samples at a
time, so the transformed tiles stay in cache between the transform, the GEMMs and the output transform.
The transforms' entries are 0, +-1 and +-1/2: float32 results differ from the direct sum by a few
rounding errors of the inputs' size (tests/kernels/test_conv_winograd.py bounds them).
"""
import numpy as np
from numba import njit

from kernels._conv_im2col import _sample_bytes
from kernels.cpu import _conv_direct as conv_direct
from kernels.cpu._batch_threads import map_batch
from kernels.cpu._scratch import workspace

# G of F(2x2, 3x3); B^T and A^T (entries 0 and +-1) are written out in _input_tiles and _output_tiles
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

MIN_CHANNELS = 33  # fewer input or output channels: the direct loops (kernels/cpu/_conv_direct.py)
# Output pixels per plane: two threads, ms, im2col + GEMM / this: 32x64x32x32 -> 64 18.4 / 10.7,
# 32x64x16x16 -> 128 8.1 / 7.3, 64x64x12x12 -> 64 6.2 / 5.4, 1x64x32x32 -> 64 1.27 / 1.09; on 8x8 planes
# (32x128 -> 128) 4.3 / 6.4 and 7.6 / 6.3 in two runs, 3x40x7x9 -> 36 0.13 / 0.26.
MIN_PLANE = 144
CHUNK_BYTES = 2 << 20  # transformed input tiles per GEMM batch


def applies(g, x, w, b=None, use="forward"):
    """Whether conv geometry g with these arrays runs here (forward only)."""
    return (use == "forward" and g.kH == 3 and g.kW == 3 and conv_direct.plain_float(g, x, w, b)
            and g.C >= MIN_CHANNELS and g.C_out >= MIN_CHANNELS and g.Ho * g.Wo >= MIN_PLANE)


def forward(x, w, b, g):
    """conv2d(x, w) + b for a geometry g that ``applies``."""
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    u = _weight_tiles(w)
    bias = np.zeros(g.C_out, dtype) if b is None else np.ascontiguousarray(b, dtype)
    tiles_h, tiles_w = (g.Ho + 1) // 2, (g.Wo + 1) // 2
    per_sample = 16 * g.C * tiles_h * tiles_w * dtype.itemsize
    samples = max(1, CHUNK_BYTES // per_sample)
    y = np.empty((g.N, g.C_out, g.Ho, g.Wo), dtype)
    even = g.Ho % 2 == 0 and g.Wo % 2 == 0

    def run(n0, n1):
        for s0 in range(n0, n1, samples):
            s1 = min(s0 + samples, n1)
            count = (s1 - s0) * tiles_h * tiles_w
            xp = workspace("winograd_x", (s1 - s0, g.C, 2 * tiles_h + 2, 2 * tiles_w + 2), dtype)
            _pad_to_tiles(x[s0:s1], xp, g.padding[0], g.padding[1])
            v = workspace("winograd_v", (16, g.C, count), dtype)
            m = workspace("winograd_m", (16, g.C_out, count), dtype)
            _input_tiles(xp, v)
            for k in range(16):
                np.matmul(u[k], v[k], out=m[k])
            out = (y[s0:s1] if even
                   else workspace("winograd_y", (s1 - s0, g.C_out, 2 * tiles_h, 2 * tiles_w), dtype))
            _output_tiles(m, bias, out)
            if not even:
                y[s0:s1] = out[:, :, :g.Ho, :g.Wo]

    map_batch(run, g.N, g.N * _sample_bytes(g))
    return y


def _weight_tiles(w):
    """U (16, C_out, C): U[4 i + j, co, c] = (G w[co, c] G^T)[i, j], as two products with G."""
    C_out, C = w.shape[:2]
    g = _G.astype(w.dtype)
    wg = (w.reshape(-1, 3) @ g.T).reshape(C_out * C, 3, 4)  # [oc, k, j] = (w G^T)[k, j]
    u = (wg.transpose(0, 2, 1).reshape(-1, 3) @ g.T).reshape(C_out, C, 4, 4)  # [o, c, j, i]
    return np.ascontiguousarray(u.transpose(3, 2, 0, 1)).reshape(16, C_out, C)


@njit(nogil=True, cache=True)
def _pad_to_tiles(x, xp, ph, pw):
    # xp = x zero-padded by ph rows and pw columns before, and after up to xp's size
    N, C, H, W = x.shape
    xp[:] = 0
    for n in range(N):
        for c in range(C):
            for r in range(H):
                xp[n, c, r + ph, pw:pw + W] = x[n, c, r]


@njit(nogil=True, cache=True)
def _input_tiles(xp, v):
    # v[:, c, tile] = B^T d B for the 4x4 patch d of xp at (2 th, 2 tw), tile = (n, th, tw); the rows'
    # combinations first (whole rows, contiguous), then each tile's columns
    N, C, Hp, Wp = xp.shape
    tiles_h, tiles_w = (Hp - 2) // 2, (Wp - 2) // 2
    a = np.empty((4, Wp), dtype=xp.dtype)
    for c in range(C):
        for n in range(N):
            for th in range(tiles_h):
                d0, d1, d2, d3 = xp[n, c, 2 * th:2 * th + 4]
                for q in range(Wp):
                    a[0, q] = d0[q] - d2[q]
                    a[1, q] = d1[q] + d2[q]
                    a[2, q] = d2[q] - d1[q]
                    a[3, q] = d1[q] - d3[q]
                t0 = (n * tiles_h + th) * tiles_w
                for i in range(4):
                    ai = a[i]
                    v0, v1, v2, v3 = v[4 * i, c], v[4 * i + 1, c], v[4 * i + 2, c], v[4 * i + 3, c]
                    for tw in range(tiles_w):
                        e0, e1, e2, e3 = ai[2 * tw], ai[2 * tw + 1], ai[2 * tw + 2], ai[2 * tw + 3]
                        v0[t0 + tw] = e0 - e2
                        v1[t0 + tw] = e1 + e2
                        v2[t0 + tw] = e2 - e1
                        v3[t0 + tw] = e1 - e3


@njit(nogil=True, cache=True)
def _output_tiles(m, bias, y):
    # y[n, co, 2 th : 2 th + 2, 2 tw : 2 tw + 2] = A^T M A + bias, M the 4x4 of m[:, co, tile]
    N, C_out, Ho, Wo = y.shape
    tiles_h, tiles_w = Ho // 2, Wo // 2
    s = np.empty((2, 4, tiles_w), dtype=y.dtype)
    for co in range(C_out):
        b = bias[co]
        for n in range(N):
            for th in range(tiles_h):
                t0 = (n * tiles_h + th) * tiles_w
                for j in range(4):  # A^T M: rows m0 + m1 + m2 and m1 - m2 - m3
                    m0, m1, m2, m3 = m[j, co, t0:], m[4 + j, co, t0:], m[8 + j, co, t0:], m[12 + j, co, t0:]
                    for tw in range(tiles_w):
                        s[0, j, tw] = m0[tw] + m1[tw] + m2[tw]
                        s[1, j, tw] = m1[tw] - m2[tw] - m3[tw]
                for i in range(2):
                    row = y[n, co, 2 * th + i]
                    for tw in range(tiles_w):
                        row[2 * tw] = s[i, 0, tw] + s[i, 1, tw] + s[i, 2, tw] + b
                        row[2 * tw + 1] = s[i, 1, tw] - s[i, 2, tw] - s[i, 3, tw] + b
