"""Pooling kernels: kernels.cpu vs a NumPy reference and PyTorch; kernels.cuda (simulator) vs cpu."""
import math

import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cpu.pool as cpu_pool
import kernels.cuda as KG

# ---------------------------------------------------------------------------------------------
# NumPy-only reference: plain loops straight from the documented definitions


def _out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_max_pool(x, k, s, p, d, ceil_mode):
    n, c, h, w = x.shape
    ho, wo = _out(h, k[0], s[0], p[0], d[0], ceil_mode), _out(w, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.empty((n, c, ho, wo), x.dtype)
    ind = np.empty((n, c, ho, wo), np.int64)
    for a in range(n):
        for b in range(c):
            for oh in range(ho):
                for ow in range(wo):
                    # PyTorch's starting index: the window's first tap stepped past the left padding
                    hb, wb = oh * s[0] - p[0], ow * s[1] - p[1]
                    while hb < 0:
                        hb += d[0]
                    while wb < 0:
                        wb += d[1]
                    best, arg = -np.inf, hb * w + wb
                    for i in range(k[0]):
                        for j in range(k[1]):
                            hh, ww = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                            if 0 <= hh < h and 0 <= ww < w:
                                v = x[a, b, hh, ww]
                                if v > best or np.isnan(v):
                                    best, arg = v, hh * w + ww
                    y[a, b, oh, ow], ind[a, b, oh, ow] = best, arg
    return y, ind


def ref_max_pool_backward(gy, ind, x_shape):
    n, c, h, w = x_shape
    gx = np.zeros((n, c, h * w), gy.dtype)
    for a in range(n):
        for b in range(c):
            for g, t in zip(gy[a, b].ravel(), ind[a, b].ravel()):
                if 0 <= t < h * w:  # all-padding windows point outside the plane: no gradient
                    gx[a, b, t] += g
    return gx.reshape(x_shape)


def _avg_windows(size, out, k, s, p):
    wins = []
    for o in range(out):
        start = o * s - p
        end = min(start + k, size + p)
        wins.append((max(start, 0), min(end, size), end - start))
    return wins


def _avg_weights(x_shape, k, s, p, ceil_mode, include_pad, divisor):
    """Dense (Ho*Wo, H*W) matrix: y_plane = M @ x_plane."""
    h, w = x_shape[2:]
    ho, wo = _out(h, k[0], s[0], p[0], 1, ceil_mode), _out(w, k[1], s[1], p[1], 1, ceil_mode)
    m = np.zeros((ho * wo, h * w))
    for oh, (hs, he, hp) in enumerate(_avg_windows(h, ho, k[0], s[0], p[0])):
        for ow, (ws, we, wp) in enumerate(_avg_windows(w, wo, k[1], s[1], p[1])):
            div = divisor or (hp * wp if include_pad else (he - hs) * (we - ws))
            for hh in range(hs, he):
                m[oh * wo + ow, hh * w + ws:hh * w + we] = 1.0 / div
    return m, (ho, wo)


def _adaptive_weights(x_shape, out):
    h, w = x_shape[2:]
    ho, wo = out
    m = np.zeros((ho * wo, h * w))
    for oh in range(ho):
        hs, he = (oh * h) // ho, -(-((oh + 1) * h) // ho)
        for ow in range(wo):
            ws, we = (ow * w) // wo, -(-((ow + 1) * w) // wo)
            for hh in range(hs, he):
                m[oh * wo + ow, hh * w + ws:hh * w + we] = 1.0 / ((he - hs) * (we - ws))
    return m, (ho, wo)


def _apply(m, out, x):
    n, c = x.shape[:2]
    return (x.reshape(n, c, -1) @ m.T).reshape(n, c, *out)


def _apply_t(m, x_shape, gy):
    n, c = gy.shape[:2]
    return (gy.reshape(n, c, -1) @ m).reshape(x_shape)


def _rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),      # the 2x2 fast path
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), False),      # odd sizes, fast path drops a row/col
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), True),       # ceil_mode partial windows
    ((1, 2, 8, 8), (3, 3), (2, 2), (1, 1), (1, 1), False),      # ResNet stem style
    ((1, 2, 9, 10), (3, 3), (1, 1), (1, 1), (1, 1), True),      # overlapping windows
    ((2, 1, 11, 7), (3, 2), (2, 3), (1, 1), (2, 1), True),      # dilation, rectangular
    ((1, 3, 10, 10), (2, 3), (4, 4), (1, 0), (1, 2), False),    # stride > kernel
    ((1, 1, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), False),      # big padded window
    ((3, 2, 6, 13), (1, 1), (2, 2), (0, 0), (1, 1), True),
    ((1, 1, 12, 12), (3, 3), (3, 3), (1, 1), (1, 1), True),
    ((1, 1, 2, 5), (2, 1), (1, 1), (1, 0), (3, 1), False),      # all-padding windows: -inf
]

# (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, 3),
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), True, True, None),
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), True, False, None),
    ((1, 2, 9, 10), (3, 3), (1, 1), (1, 1), False, True, None),
    ((1, 2, 9, 10), (3, 3), (1, 1), (1, 1), False, False, None),
    ((1, 2, 9, 10), (3, 3), (2, 2), (1, 1), True, True, None),
    ((1, 2, 9, 10), (3, 3), (2, 2), (1, 1), True, False, None),
    ((2, 1, 11, 7), (3, 2), (2, 3), (1, 1), True, False, 5),
    ((1, 3, 10, 10), (2, 3), (4, 4), (1, 0), False, True, None),
    ((1, 1, 6, 6), (5, 4), (2, 3), (2, 2), True, True, None),
]

# (shape, output_size)
ADAPTIVE_CASES = [
    ((2, 3, 7, 9), (3, 4)),
    ((1, 2, 5, 5), (5, 5)),
    ((2, 4, 4, 4), (1, 1)),
    ((1, 2, 6, 7), (4, 3)),
    ((1, 2, 3, 5), (6, 7)),      # more outputs than inputs: overlapping windows
    ((1, 1, 10, 3), (3, 2)),
]

DTYPES = [np.float64, np.float32]


# ---------------------------------------------------------------------------------------------
# CPU against the NumPy reference (no torch needed)

@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_cpu_matches_reference(case):
    shape, k, s, p, d, ceil_mode = case
    x = _rand(shape)
    y, ind = KC.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    y_ref, ind_ref = ref_max_pool(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(ind, ind_ref)
    assert y.dtype == x.dtype and ind.dtype == np.int64
    gy = _rand(y.shape, seed=1)
    gx = KC.max_pool2d_backward(gy, ind, shape)
    np.testing.assert_allclose(gx, ref_max_pool_backward(gy, ind, shape), rtol=1e-12, atol=1e-12)


def test_max_pool_ties_pick_first_and_nan_wins():
    x = np.zeros((1, 1, 4, 4))
    y, ind = KC.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(ind[0, 0], [[0, 2], [8, 10]])
    y, ind = KC.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(ind, ref_max_pool(x, (3, 3), (1, 1), (1, 1), (1, 1), False)[1])
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 1, 1] = 5.0
    for k in [(2, 2), (3, 3)]:
        y, ind = KC.max_pool2d_forward(x, k, (1, 1), (0, 0), (1, 1), False)
        y_ref, ind_ref = ref_max_pool(x, k, (1, 1), (0, 0), (1, 1), False)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(ind, ind_ref)
    assert np.isnan(y[0, 0, 0, 0]) and ind[0, 0, 0, 0] == 4  # the last NaN in scan order


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_cpu_matches_reference(case):
    shape, k, s, p, ceil_mode, include_pad, divisor = case
    x = _rand(shape)
    m, out = _avg_weights(shape, k, s, p, ceil_mode, include_pad, divisor)
    y = KC.avg_pool2d_forward(x, k, s, p, ceil_mode, include_pad, divisor)
    np.testing.assert_allclose(y, _apply(m, out, x), rtol=1e-12, atol=1e-12)
    gy = _rand(y.shape, seed=1)
    gx = KC.avg_pool2d_backward(gy, shape, k, s, p, ceil_mode, include_pad, divisor)
    np.testing.assert_allclose(gx, _apply_t(m, shape, gy), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_avg_pool_cpu_matches_reference(case):
    shape, out = case
    x = _rand(shape)
    m, out = _adaptive_weights(shape, out)
    y = KC.adaptive_avg_pool2d_forward(x, out)
    np.testing.assert_allclose(y, _apply(m, out, x), rtol=1e-12, atol=1e-12)
    gy = _rand(y.shape, seed=1)
    gx = KC.adaptive_avg_pool2d_backward(gy, shape)
    np.testing.assert_allclose(gx, _apply_t(m, shape, gy), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("serial_below", [0, 1 << 40], ids=["thread-pool", "one-thread"])
def test_global_average_pool_both_paths_match_reference(monkeypatch, serial_below):
    # adaptive 1x1 runs on the calling thread below GLOBAL_SERIAL_BELOW elements, on the pool above
    monkeypatch.setattr(cpu_pool, "GLOBAL_SERIAL_BELOW", serial_below)
    for shape in [(2, 4, 4, 4), (3, 5, 7, 3)]:
        x = _rand(shape)
        m, out = _adaptive_weights(shape, (1, 1))
        y = KC.adaptive_avg_pool2d_forward(x, out)
        np.testing.assert_allclose(y, _apply(m, out, x), rtol=1e-12, atol=1e-12)
        gy = _rand(y.shape, seed=1)
        np.testing.assert_allclose(KC.adaptive_avg_pool2d_backward(gy, shape), _apply_t(m, shape, gy),
                                   rtol=1e-12, atol=1e-12)


def test_non_contiguous_inputs_and_float16():
    base = _rand((2, 3, 9, 16))
    x = base[:, :, :, ::2]                       # strided view
    xt = np.ascontiguousarray(base.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # Fortran-ish layout
    for a in (x, xt[:, :, :, :8]):
        assert not a.flags.c_contiguous
        y, ind = KC.max_pool2d_forward(a, (3, 2), (2, 2), (1, 1), (1, 1), True)
        y_ref, ind_ref = ref_max_pool(np.ascontiguousarray(a), (3, 2), (2, 2), (1, 1), (1, 1), True)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(ind, ind_ref)
        gy = np.ones_like(y)[:, :, :, ::-1]
        np.testing.assert_allclose(KC.max_pool2d_backward(gy, ind, a.shape),
                                   ref_max_pool_backward(np.ascontiguousarray(gy), ind, a.shape))
        np.testing.assert_allclose(KC.avg_pool2d_forward(a, (2, 2), (2, 2), (0, 0), False, True, None),
                                   KC.avg_pool2d_forward(a.copy(), (2, 2), (2, 2), (0, 0), False, True, None))
        np.testing.assert_allclose(KC.adaptive_avg_pool2d_forward(a, (3, 3)),
                                   KC.adaptive_avg_pool2d_forward(a.copy(), (3, 3)))
    h = base.astype(np.float16)
    y, ind = KC.max_pool2d_forward(h, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(ind, ref_max_pool(h.astype(np.float64), (2, 2), (2, 2), (0, 0), (1, 1),
                                                    False)[1])
    ya = KC.avg_pool2d_forward(h, (2, 2), (2, 2), (0, 0), False, True, None)
    assert ya.dtype == np.float16
    np.testing.assert_allclose(ya.astype(np.float64), KC.avg_pool2d_forward(
        h.astype(np.float64), (2, 2), (2, 2), (0, 0), False, True, None), rtol=2e-3, atol=2e-3)


def test_float32_stays_float32():
    x = _rand((2, 3, 7, 9), np.float32)
    y, ind = KC.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert y.dtype == np.float32 and ind.dtype == np.int64
    assert KC.max_pool2d_backward(y, ind, x.shape).dtype == np.float32
    assert KC.avg_pool2d_forward(x, (3, 3), (1, 1), (1, 1), False, True, None).dtype == np.float32
    assert KC.adaptive_avg_pool2d_forward(x, (2, 2)).dtype == np.float32
    assert KC.adaptive_avg_pool2d_backward(np.ones((2, 3, 1, 1), np.float32), x.shape).dtype == np.float32



@pytest.mark.parametrize("hw", [(1, 1), (1, 2), (2, 3), (5, 4), (8, 8), (9, 11), (16, 7), (7, 16)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_3x3s2p1_fast_path_matches_reference(hw, ceil_mode):
    # the separable 3x3/2 pad 1 kernel: odd widths (copied into rows ending in -inf), even and tiny
    # sizes (border rows and columns), ceil_mode's extra window (the generic kernel), many ties (first
    # max wins), -inf inputs (never the padding's index) and NaNs (the last NaN wins), float64 and float32
    k, s, p, d = (3, 3), (2, 2), (1, 1), (1, 1)
    x = np.round(np.random.default_rng(3).standard_normal((2, 3) + hw) * 2) / 2
    x[np.random.default_rng(5).random(x.shape) < 0.3] = -np.inf
    x[np.random.default_rng(4).random(x.shape) < 0.05] = np.nan
    for a in (x, x.astype(np.float32)):
        y, ind = KC.max_pool2d_forward(a, k, s, p, d, ceil_mode)
        y_ref, ind_ref = ref_max_pool(a, k, s, p, d, ceil_mode)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(ind, ind_ref)
        assert y.dtype == a.dtype

# ---------------------------------------------------------------------------------------------
# CPU against PyTorch (values, indices and autograd gradients)

@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_cpu_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape, k, s, p, d, ceil_mode in MAX_CASES:
        x = _rand(shape, dtype)
        if dtype == np.float64:
            x = np.round(x * 2) / 2  # many ties: indices must still agree
        xt = torch.tensor(x, requires_grad=True)
        yt, it = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
        y, ind = KC.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        np.testing.assert_array_equal(y, yt.detach().numpy())
        np.testing.assert_array_equal(ind, it.numpy())
        if not np.isfinite(y).all():
            continue  # all-padding windows: PyTorch's indices point outside the plane
        gy = _rand(y.shape, dtype, seed=1)
        (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
        np.testing.assert_allclose(KC.max_pool2d_backward(gy, ind, shape), gxt.numpy(), **_tol(dtype))


def test_max_pool_nan_matches_torch():
    torch = pytest.importorskip("torch")
    x = _rand((2, 2, 9, 9))
    x[x > 1.2] = np.nan
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 3), (1, 1), (1, 1))]:
        yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
        y, ind = KC.max_pool2d_forward(x, k, s, p, (1, 1), False)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(ind, it.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_cpu_matches_torch(dtype):
    # bit for bit: sums in the dtype, row by row from zero, one division by the divisor, as PyTorch's CPU
    # kernel (kernels/_pool_math.py); the 2x2 fast path included
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape, k, s, p, ceil_mode, include_pad, divisor in AVG_CASES + [
            ((2, 3, 12, 12), (7, 7), (3, 3), (3, 3), True, True, None)]:
        x = _rand(shape, dtype) * 3 + 1
        xt = torch.tensor(x, requires_grad=True)
        yt = F.avg_pool2d(xt, k, s, p, ceil_mode, include_pad, divisor)
        y = KC.avg_pool2d_forward(x, k, s, p, ceil_mode, include_pad, divisor)
        np.testing.assert_array_equal(y, yt.detach().numpy())
        gy = _rand(y.shape, dtype, seed=1)
        (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
        gx = KC.avg_pool2d_backward(gy, shape, k, s, p, ceil_mode, include_pad, divisor)
        np.testing.assert_array_equal(gx, gxt.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool_cpu_matches_torch(dtype):
    # bit for bit but for the 1x1 output (global average: a vectorised sum, PyTorch takes a mean): sums in
    # the dtype, divided by the window's height, then by its width, as PyTorch does
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape, out in ADAPTIVE_CASES + [((2, 3, 13, 11), (4, 5)), ((2, 3, 31, 29), (5, 7)),
                                        ((2, 3, 7, 7), (1, 1))]:
        x = _rand(shape, dtype) * 3 + 1
        xt = torch.tensor(x, requires_grad=True)
        yt = F.adaptive_avg_pool2d(xt, out)
        y = KC.adaptive_avg_pool2d_forward(x, out)
        gy = _rand(y.shape, dtype, seed=1)
        (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
        gx = KC.adaptive_avg_pool2d_backward(gy, shape)
        if tuple(out) == (1, 1):
            np.testing.assert_allclose(y, yt.detach().numpy(), **_tol(dtype))
            np.testing.assert_allclose(gx, gxt.numpy(), **_tol(dtype))
        else:
            np.testing.assert_array_equal(y, yt.detach().numpy())
            np.testing.assert_array_equal(gx, gxt.numpy())


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_float32_windows_sum_in_float32(K):
    # 1 + 2**-24 rounds back to 1 in float32 at every step, as in PyTorch's float accumulator; a float64
    # sum would give 1 + 3 * 2**-24 and a mean 2**-24 above 0.25 (the CPU backend once did)
    if K is KG and not KG.available():
        pytest.skip(f"kernels.cuda unavailable: {KG.unavailable_reason()}")
    x = np.full((1, 1, 1, 8), 2.0 ** -24, np.float32)
    x[0, 0, 0, ::4] = 1.0
    xd = K.xp.asarray(x)
    y = _host(K.avg_pool2d_forward(xd, (1, 4), (1, 4), (0, 0), False, True, None))
    np.testing.assert_array_equal(y, np.full((1, 1, 1, 2), 0.25, np.float32))
    np.testing.assert_array_equal(_host(K.adaptive_avg_pool2d_forward(xd, (1, 2))), y)


# ---------------------------------------------------------------------------------------------
# CUDA kernels (simulator on CPU-only machines) against the CPU kernels: > 256 threads, several blocks

def _host(a):
    return a if isinstance(a, np.ndarray) else KG.xp.asnumpy(a)


cuda_only = pytest.mark.skipif(not KG.available(),
                               reason=f"kernels.cuda unavailable: {KG.unavailable_reason()}")

CUDA_MAX = [
    ((3, 3, 12, 14), (2, 2), (2, 2), (0, 0), (1, 1), False),   # 378 outputs
    ((2, 3, 7, 9), (3, 3), (1, 1), (1, 1), (1, 1), True),      # overlapping: several adds per element
    ((2, 3, 11, 9), (3, 2), (2, 1), (1, 1), (2, 1), True),     # dilation, ceil_mode
]
CUDA_AVG = [
    ((2, 3, 7, 9), (3, 3), (1, 1), (1, 1), False, True, None),
    ((2, 3, 9, 11), (3, 3), (2, 1), (1, 1), True, False, None),
    ((3, 3, 12, 14), (2, 2), (2, 2), (0, 0), True, True, 3),
    ((3, 3, 12, 14), (2, 2), (2, 2), (0, 0), False, True, None),   # the CPU's 2x2 fast paths
    ((3, 3, 13, 14), (2, 2), (2, 2), (0, 0), False, False, 8),     # fast paths, odd height, a power of two
]


@cuda_only
@pytest.mark.parametrize("case", CUDA_MAX)
def test_max_pool_cuda_matches_cpu(case):
    shape, k, s, p, d, ceil_mode = case
    x = np.round(_rand(shape, np.float32) * 2) / 2  # ties
    x[0, 0, 1, 1] = np.nan
    y, ind = KC.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    assert y.size > 256
    yg, indg = KG.max_pool2d_forward(KG.xp.asarray(x), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(_host(yg), y)  # NaN where the CPU has NaN, nowhere else
    np.testing.assert_array_equal(_host(indg), ind)
    gy = _rand(y.shape, np.float32, seed=1)
    gx = _host(KG.max_pool2d_backward(KG.xp.asarray(gy), indg, shape))
    np.testing.assert_allclose(gx, KC.max_pool2d_backward(gy, ind, shape), rtol=1e-6, atol=1e-6)


@cuda_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CUDA_AVG)
def test_avg_pool_cuda_matches_cpu(case, dtype):
    # bit for bit: both run kernels/_pool_math.py's sums and divisions (the CPU's 2x2 fast path and its
    # scatter backward in the same order as CUDA's per-output and per-input threads)
    shape, k, s, p, ceil_mode, include_pad, divisor = case
    x = _rand(shape, dtype) * 3 + 1
    y = KC.avg_pool2d_forward(x, k, s, p, ceil_mode, include_pad, divisor)
    assert y.size > 256 or np.prod(shape) > 256
    yg = _host(KG.avg_pool2d_forward(KG.xp.asarray(x), k, s, p, ceil_mode, include_pad, divisor))
    assert yg.dtype == dtype
    np.testing.assert_array_equal(yg, y)
    gy = _rand(y.shape, dtype, seed=1)
    gx = _host(KG.avg_pool2d_backward(KG.xp.asarray(gy), shape, k, s, p, ceil_mode, include_pad, divisor))
    np.testing.assert_array_equal(gx, KC.avg_pool2d_backward(gy, shape, k, s, p, ceil_mode, include_pad,
                                                             divisor))


@cuda_only
@pytest.mark.parametrize("case", [((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 6), (7, 9)), ((2, 150, 2, 1), (1, 1))])
def test_adaptive_avg_pool_cuda_matches_cpu(case):
    # bit for bit, but for the CPU's 1x1 fast path (a vectorised, reassociated sum)
    shape, out = case
    x = _rand(shape, np.float32) * 3 + 1
    y = KC.adaptive_avg_pool2d_forward(x, out)
    yg = _host(KG.adaptive_avg_pool2d_forward(KG.xp.asarray(x), out))
    assert not np.isnan(yg).any() and yg.dtype == np.float32
    gy = _rand(y.shape, np.float32, seed=1)
    gx = _host(KG.adaptive_avg_pool2d_backward(KG.xp.asarray(gy), shape))
    assert not np.isnan(gx).any()
    if tuple(out) == (1, 1):
        np.testing.assert_allclose(yg, y, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gx, KC.adaptive_avg_pool2d_backward(gy, shape), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(yg, y)
        np.testing.assert_array_equal(gx, KC.adaptive_avg_pool2d_backward(gy, shape))


# ---------------------------------------------------------------------------------------------
# bad arguments: raise before any kernel runs, naming the op

@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_bad_arguments(K):
    xp = np if K is KC else K.xp
    x = xp.zeros((1, 2, 6, 6))

    def raises(exc, match, fn, *args):
        with pytest.raises(exc, match=match):
            fn(*args)

    mp, ap = K.max_pool2d_forward, K.avg_pool2d_forward
    raises(ValueError, "max_pool2d_forward.*4-D", mp, xp.zeros((2, 6, 6)), (2, 2), (2, 2), (0, 0), (1, 1),
           False)
    raises(ValueError, "max_pool2d_forward: kernel_size must be positive", mp, x, (0, 2), (2, 2), (0, 0),
           (1, 1), False)
    raises(ValueError, "max_pool2d_forward: stride", mp, x, (2, 2), (2, -1), (0, 0), (1, 1), False)
    raises(ValueError, "max_pool2d_forward: dilation", mp, x, (2, 2), (2, 2), (0, 0), (0, 1), False)
    raises(ValueError, "max_pool2d_forward: padding", mp, x, (2, 2), (2, 2), (-1, 0), (1, 1), False)
    raises(ValueError, "max_pool2d_forward: pad should be at most half", mp, x, (3, 3), (1, 1), (2, 2),
           (2, 2), False)
    raises(ValueError, r"max_pool2d_forward: input of shape \(1, 2, 6, 6\) is too small", mp, x, (7, 7),
           (1, 1), (0, 0), (1, 1), False)
    raises(TypeError, "max_pool2d_forward.*floating", mp, xp.zeros((1, 2, 6, 6), dtype=np.int64), (2, 2),
           (2, 2), (0, 0), (1, 1), False)
    raises(ValueError, "avg_pool2d_forward: pad should be at most half", ap, x, (3, 3), (1, 1), (2, 2), False,
           True, None)
    raises(ValueError, "avg_pool2d_forward.*too small", ap, x, (8, 2), (1, 1), (0, 0), False, True, None)
    raises(ValueError, "avg_pool2d_forward: divisor_override", ap, x, (2, 2), (2, 2), (0, 0), False, True, 0)
    raises(TypeError, "avg_pool2d_forward.*floating", ap, xp.zeros((1, 2, 6, 6), dtype=np.int32), (2, 2),
           (2, 2), (0, 0), False, True, None)
    gy = xp.zeros((1, 2, 3, 3))
    ind = xp.zeros((1, 2, 3, 3), dtype=np.int64)
    raises(ValueError, r"max_pool2d_backward: indices has shape \(1, 2, 2, 3\)", K.max_pool2d_backward, gy,
           ind[:, :, :2], (1, 2, 6, 6))
    raises(TypeError, "max_pool2d_backward: indices must be int64", K.max_pool2d_backward, gy,
           ind.astype(np.int32), (1, 2, 6, 6))
    raises(ValueError, "max_pool2d_backward.*x_shape", K.max_pool2d_backward, gy, ind, (1, 3, 6, 6))
    raises(ValueError, r"avg_pool2d_backward: grad_y has shape \(1, 2, 3, 3\), expected \(1, 2, 2, 2\)",
           K.avg_pool2d_backward, gy, (1, 2, 4, 4), (2, 2), (2, 2), (0, 0), False, True, None)
    raises(ValueError, "adaptive_avg_pool2d_forward: output_size must be positive",
           K.adaptive_avg_pool2d_forward, x, (0, 2))
    raises(ValueError, "adaptive_avg_pool2d_forward.*4-D", K.adaptive_avg_pool2d_forward, xp.zeros((2, 6, 6)),
           (2, 2))
    raises(ValueError, "adaptive_avg_pool2d_backward: grad_y has shape", K.adaptive_avg_pool2d_backward, gy,
           (2, 2, 6, 6))


def test_cpu_and_cuda_share_signatures():
    import inspect
    for name in ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
                 "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"):
        assert name in KC.pool.__all__ and name in KG.pool.__all__
        assert inspect.signature(getattr(KC, name)) == inspect.signature(getattr(KG, name))
