"""kernels.cpu / kernels.cuda erf and gelu: erf within 1 ulp of the correctly rounded value in float32
(the CPU's vectorised polynomial), libm's value in float64, PyTorch's values at NaN and infinities,
and GELU's output and derivative against float64."""
import math
import warnings

import numpy as np
import pytest

import kernels.cpu
import kernels.cuda

EDGES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 3.9, 3.92, -3.95, 10.0, -100.0]


def _tables():
    return [kernels.cpu] + ([kernels.cuda] if kernels.cuda.available() else [])


def _host(K, a):
    return K.xp.asnumpy(a) if K is kernels.cuda else a


def _erf64(x):
    return np.array([math.erf(v) for v in np.asarray(x, dtype=np.float64).ravel()]).reshape(np.shape(x))


def test_cpu_float32_erf_is_within_one_ulp_of_the_rounded_value():
    x = np.linspace(-6, 6, 400_001, dtype=np.float32)
    x = np.concatenate([x, np.geomspace(1e-38, 1, 20_001, dtype=np.float32)])
    got = kernels.cpu.erf(x)
    expected = _erf64(x).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - expected.view(np.int32))
    assert got.dtype == np.float32
    assert ulps.max() <= 1 and (ulps > 0).mean() < 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_erf_at_the_edges(K, dtype):
    x = np.array(EDGES, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN inputs must not raise floating-point warnings
        got = _host(K, K.erf(K.xp.asarray(x)))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _erf64(x).astype(dtype), rtol={np.float16: 1e-3}.get(dtype, 2e-7),
                               atol=0)
    assert np.signbit(got[4])  # erf(-0) = -0


def test_cpu_float64_erf_is_libm():
    x = np.random.default_rng(0).standard_normal(1000) * 3
    np.testing.assert_array_equal(kernels.cpu.erf(x), _erf64(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_gelu_and_its_backward(K, dtype):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(500) * 3, [0.0, -0.0, 5.0, -5.0, -10.0]]).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    xd = x.astype(np.float64)
    cdf = 0.5 * (1 + _erf64(xd / math.sqrt(2)))
    out = K.gelu(K.xp.asarray(x))
    grad = K.gelu_backward(K.xp.asarray(g), K.xp.asarray(x))
    tol = {np.float32: 3e-7, np.float64: 1e-15}[dtype]
    np.testing.assert_allclose(_host(K, out), xd * cdf, rtol=tol, atol=tol)
    np.testing.assert_allclose(_host(K, grad), g * (cdf + xd * np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi)),
                               rtol=tol * 4, atol=tol * 4)
    assert out.dtype == grad.dtype == dtype


def test_cpu_float32_gelu_keeps_its_relative_accuracy_in_the_negative_tail():
    """GELU through 1 + erf(x / sqrt 2) loses Phi below x = -5 (and gives 0 below -5.55); the float32 loop
    computes Phi's tail itself: a few ulp everywhere, its derivative within 2 ulp of 1."""
    x = np.concatenate([np.linspace(-13, 13, 260_001), -np.geomspace(1e-30, 13, 20_001),
                        np.geomspace(1e-30, 13, 20_001)]).astype(np.float32)
    xd = x.astype(np.float64)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in xd])
    out = kernels.cpu.gelu(x)
    np.testing.assert_allclose(out, xd * cdf, rtol=5e-7, atol=0)
    assert out[x < -5.6].min() < 0  # not flushed to -0
    grad = kernels.cpu.gelu_backward(np.ones_like(x), x)
    pdf = np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(grad, cdf + xd * pdf, rtol=0, atol=2.5e-7)


def test_cpu_float32_gelu_at_large_magnitudes_is_the_float64_value():
    """From |x| = 1.8e19, x * x is inf in float32; GELU and its derivative were NaN there (PyTorch: x or -0,
    and 1 or 0). Past |x| = 13.19 the density is taken as 0: the float64 derivative there is below 1e-37."""
    x = np.array([13.5, -13.5, 1e10, -1e10, 2e19, -2e19, 1e30, -1e30, 3e38, -3e38, np.inf, -np.inf, np.nan],
                 dtype=np.float32)
    x64 = x.astype(np.float64)
    out = kernels.cpu.gelu(x)
    np.testing.assert_array_equal(out, kernels.cpu.gelu(x64).astype(np.float32))
    assert np.isfinite(out[:-3]).all()
    grad = kernels.cpu.gelu_backward(np.ones_like(x), x)
    np.testing.assert_allclose(grad, kernels.cpu.gelu_backward(np.ones_like(x64), x64), rtol=0, atol=1e-37)
    np.testing.assert_array_equal(grad[2:10], [1, 0] * 4)


@pytest.mark.parametrize("layout", ["strided", "transposed", "float16", "0-d"])
def test_cpu_gelu_in_every_layout(layout):
    a = np.random.default_rng(2).standard_normal((6, 7, 5))
    a = {"strided": a[:, ::2].astype(np.float32), "transposed": a.transpose(2, 0, 1),
         "float16": a.astype(np.float16), "0-d": np.array(0.75, dtype=np.float32)}[layout]
    g = np.ones_like(a)
    out, grad = kernels.cpu.gelu(a), kernels.cpu.gelu_backward(g, a)
    a64 = np.asarray(a, dtype=np.float64)
    expected, expected_grad = kernels.cpu.gelu(a64), kernels.cpu.gelu_backward(np.ones_like(a64), a64)
    assert out.shape == grad.shape == a.shape and out.dtype == grad.dtype == a.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-3 if a.dtype == np.float16 else 1e-6, atol=1e-3)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-3, atol=1e-3)


def _gelu_tanh64(x):
    """GELU's tanh form, 0.5 x (1 + tanh(z)), z = k (x + 0.044715 x^3), k = sqrt(2 / pi), and its derivative
    0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2), in float64; with 0.5 (1 + tanh(z)) written as
    s = 1 / (1 + exp(-2 z)) (the same number; 1 + tanh(z) itself cancels to 0 in float64 from x = -6) and
    1 - t^2 = 4 s (1 - s)."""
    x = np.asarray(x, dtype=np.float64)
    k = math.sqrt(2 / math.pi)
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-2 * k * (x + 0.044715 * x ** 3)))
    return x * s, s + 2 * x * s * (1 - s) * k * (1 + 3 * 0.044715 * x * x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_gelu_tanh_and_its_backward(K, dtype):
    """Within a few ulp of the float64 tanh form times 1 + |2 z| (the rounding of exp's argument 2 z is
    amplified by |2 z|: 66 at x = -9), also in the negative tail (x sigmoid(2 z): no 1 + tanh cancellation;
    at x = -8 the value is -1e-21, not 0); NaN stays NaN, +inf gives inf."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.standard_normal(2000) * 3, -np.geomspace(1e-30, 9, 2001), [0.0, -0.0, 40.0]])
    x = x.astype(dtype)
    g = np.concatenate([rng.standard_normal(x.size - 3), [1.0, 1.0, 1.0]]).astype(dtype)
    out = _host(K, K.gelu_tanh(K.xp.asarray(x)))
    grad = _host(K, K.gelu_tanh_backward(K.xp.asarray(g), K.xp.asarray(x)))
    want, want_derivative = _gelu_tanh64(x)
    xd = x.astype(np.float64)
    amplification = 1 + np.abs(2 * math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3))
    eps = np.finfo(dtype).eps if dtype != np.float16 else 1e-3
    assert out.dtype == grad.dtype == dtype and out.shape == x.shape
    floor = 1e-3 if dtype == np.float16 else np.finfo(dtype).tiny  # vexp flushes subnormal results to 0
    assert np.all(np.abs(out - want) <= 4 * eps * amplification * np.abs(want) + floor)
    np.testing.assert_allclose(grad, g * want_derivative, rtol=16 * eps, atol=16 * eps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # CuPy's exp(inf) in the simulator's NumPy
        edges = K.xp.asarray(np.array([np.nan, np.inf], dtype=dtype))
        np.testing.assert_array_equal(_host(K, K.gelu_tanh(edges)), [np.nan, np.inf])
