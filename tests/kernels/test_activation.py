"""kernels.cpu / kernels.cuda relu and relu_backward: PyTorch's values at zero, NaN and infinities, every
dtype and layout (the CPU loop takes contiguous float32/float64, NumPy the rest)."""
import numpy as np
import pytest

import kernels.cpu
import kernels.cuda

EDGES = [-1.0, -0.0, 0.0, 2.5, np.nan, -np.inf, np.inf, 1e-30]


def _host(K, a):
    return K.xp.asnumpy(a) if K is kernels.cuda else a


def _tables():
    tables = [kernels.cpu]
    if kernels.cuda.available():
        tables.append(kernels.cuda)
    return tables


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_relu_and_its_backward_at_the_edges(K, dtype):
    x = np.array(EDGES, dtype=dtype)
    out = K.relu(K.xp.asarray(x))
    expected = np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0)).astype(dtype)
    np.testing.assert_array_equal(_host(K, out), expected)
    assert out.dtype == dtype
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.inf, -7.0], dtype=dtype)
    grad = K.relu_backward(K.xp.asarray(g), out)
    # 0 where out <= 0, grad elsewhere (2.5, inf, 1e-30 in float32/64, and NaN, as PyTorch's
    # threshold_backward): inf grads give no NaN
    with np.errstate(invalid="ignore"):
        want = np.where(expected <= 0, 0, g).astype(dtype)
    assert want[4] == 5.0  # the NaN input's
    np.testing.assert_array_equal(_host(K, grad), want)


@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed", "int64"])
def test_relu_matches_numpy_in_every_layout(layout):
    a = np.random.default_rng(0).standard_normal((6, 7, 5))
    a = {"contiguous": a.astype(np.float32), "strided": a[:, ::2], "transposed": a.transpose(2, 0, 1),
         "int64": (a * 10).astype(np.int64)}[layout]
    out = kernels.cpu.relu(a)
    np.testing.assert_array_equal(out, np.maximum(a, 0))
    assert out.shape == a.shape and out.dtype == a.dtype
    if a.dtype.kind == "f":
        g = np.random.default_rng(1).standard_normal(a.shape).astype(a.dtype)
        np.testing.assert_array_equal(kernels.cpu.relu_backward(g, out), g * (out > 0))


def _sigmoid64(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_sigmoid_and_silu_values_and_edges(K, dtype):
    x = np.concatenate([np.random.default_rng(3).standard_normal(300) * 6,
                        [0.0, -0.0, 30.0, -30.0, 89.0, -89.0, -200.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    s = _host(K, K.sigmoid(K.xp.asarray(x)))
    expected = _sigmoid64(x)
    tol = {np.float16: 2e-3, np.float32: 3e-7, np.float64: 1e-15}[dtype]
    normal = expected > np.finfo(dtype).tiny  # below it the CPU's exp flushes to 0, as documented
    np.testing.assert_allclose(s[normal], expected[normal], rtol=tol)
    assert s.dtype == dtype and np.all(s[~normal & ~np.isnan(x)] <= np.finfo(dtype).tiny)
    assert np.isnan(s[-1])
    out = _host(K, K.silu(K.xp.asarray(x)))
    derivative = _host(K, K.silu_backward(K.xp.asarray(np.ones_like(x)), K.xp.asarray(x)))
    finite = normal & np.isfinite(x)
    xd, e = x[finite].astype(np.float64), expected[finite]
    np.testing.assert_allclose(out[finite], xd * e, rtol=tol, atol=tol)
    np.testing.assert_allclose(derivative[finite], e * (1 + xd * (1 - e)), rtol=tol * 4, atol=tol)
    assert out[-3] == np.inf and np.isnan(out[-1])
    scalar = K.xp.asarray(np.array(0.5, dtype=dtype))
    assert K.sigmoid(scalar).shape == K.silu(scalar).shape == K.silu_backward(scalar, scalar).shape == ()


def test_cpu_sigmoid_and_silu_in_every_layout():
    a = np.random.default_rng(4).standard_normal((6, 7, 5)).astype(np.float32)
    for view in (a[:, ::2], a.transpose(2, 0, 1)):
        np.testing.assert_allclose(kernels.cpu.sigmoid(view), _sigmoid64(view), rtol=3e-7)
        out, derivative = kernels.cpu.silu(view), kernels.cpu.silu_backward(np.ones_like(view), view)
        assert out.shape == derivative.shape == view.shape
        np.testing.assert_allclose(out, view * _sigmoid64(view), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layout", ["contiguous", "strided", "float64"])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_sigmoid_and_tanh_backward_from_the_output(K, layout):
    rng = np.random.default_rng(5)
    out, g = rng.uniform(-1, 1, (2, 6, 7)), rng.standard_normal((2, 6, 7))
    if layout == "strided":
        out, g = out[:, ::2], g[:, ::2]
    dtype = np.float64 if layout == "float64" else np.float32
    out, g = out.astype(dtype), g.astype(dtype)
    for name, expected in (("sigmoid_backward", g * out * (1 - out)), ("tanh_backward", g * (1 - out * out))):
        got = _host(K, getattr(K, name)(K.xp.asarray(g), K.xp.asarray(out)))
        assert got.dtype == dtype and got.shape == g.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=1e-7)


def test_cpu_loops_that_cost_more_per_element_go_parallel_sooner(monkeypatch):
    from kernels.cpu import _serial
    calls = []
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1000)
    x = np.ones(300, dtype=np.float32)
    for kernel in (kernels.cpu.activation._relu, kernels.cpu.activation._sigmoid, kernels.cpu.special._gelu):
        name = kernel.parallel.__name__
        for way in ("serial", "parallel"):
            monkeypatch.setattr(kernel, way, lambda *a, name=name, way=way: calls.append((name, way)))
    kernels.cpu.relu(x), kernels.cpu.sigmoid(x), kernels.cpu.gelu(x)  # 300 elements: costs 1, 4 and 8
    assert calls == [("_relu", "serial"), ("_sigmoid", "parallel"), ("_gelu", "parallel")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_two_thread_loops_give_the_serial_loops_numbers(dtype, monkeypatch):
    """Elementwise loops run on two threads from SIZE_SERIAL_BELOW elements: the same numbers."""
    from kernels.cpu import _serial
    K = kernels.cpu
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(3001) * 4).astype(dtype)  # odd size: uneven thread shares
    x[::100] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30] * 5 + [np.nan]  # 31 slots
    g = rng.standard_normal(3001).astype(dtype)
    runs = []
    for limit in (1 << 40, 0):  # serial everywhere, then parallel everywhere
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        y, s, t = K.relu(x), K.sigmoid(x), np.tanh(x)
        runs.append([y, K.relu_backward(g, y), s, K.sigmoid_backward(g, s), K.silu(x), K.silu_backward(g, x),
                     K.tanh_backward(g, t), K.gelu(x), K.gelu_backward(g, x), K.erf(x)])
    for serial, parallel in zip(*runs):
        np.testing.assert_array_equal(parallel, serial)


PIECEWISE_ARGS = {"leaky_relu": (0.2,), "hardtanh": (-1.0, 1.0), "hardsigmoid": (), "hardswish": (),
                  "elu": (0.5, 1.5, 2.0),  # alpha, scale, input_scale
                  "clamp": (-1.0, 6.0)}


def _hard_reference(name, x, g):
    """PyTorch's leaky_relu (slope 0.2), hardtanh (-1, 1), hardsigmoid, hardswish and ELU (PIECEWISE_ARGS)
    and their input gradients, in float64 NumPy."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "elu":
            alpha, scale, input_scale = PIECEWISE_ARGS["elu"]
            negative = np.minimum(x, 0) * input_scale
            return (np.where(x > 0, x * scale, alpha * scale * np.expm1(negative)),
                    np.where(x > 0, g * scale, g * alpha * scale * input_scale * np.exp(negative)))
        if name == "leaky_relu":
            return np.where(x > 0, x, x * 0.2), np.where(x > 0, g, g * 0.2)
        if name == "hardtanh":
            return np.clip(x, -1, 1), np.where((x <= -1) | (x >= 1), 0, g)
        if name == "clamp":  # the gradient passes at the bounds, not at NaN
            return np.clip(x, -1, 6), np.where((x >= -1) & (x <= 6), g, 0)
        if name == "hardsigmoid":
            return np.clip(x + 3, 0, 6) / 6, np.where((x > -3) & (x < 3), g / 6, 0)
        return x * np.clip(x + 3, 0, 6) / 6, np.where(x <= -3, 0, np.where(x < 3, g * (x / 3 + 0.5), g))


@pytest.mark.parametrize("name", list(PIECEWISE_ARGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_piecewise_activations_and_their_gradients_at_the_edges(K, dtype, name):
    """The values and input gradients PyTorch gives, at the corners (0, +-1, +-3, 6), NaN and the infinities
    (hardswish(-inf) is NaN there too, as -inf * 0), an infinite grad where the gradient is 0 giving 0; ELU
    within 1e-6 (float32: vexpm1, vexp) of expm1 and exp in float64."""
    edges = [-3.0, 3.0, -1.0, 1.0, 6.0, -6.0, 2.9, -2.9, 0.5, -0.0, np.nan, np.inf, -np.inf]
    x = np.concatenate([edges, np.random.default_rng(6).standard_normal(301) * 4]).astype(dtype)
    g = np.concatenate([[np.inf, 2.0, -np.inf] + [1.5] * 10, np.random.default_rng(7).standard_normal(301)])
    g = g.astype(dtype)
    args = PIECEWISE_ARGS[name]
    out = _host(K, getattr(K, name)(K.xp.asarray(x), *args))
    grad = _host(K, getattr(K, name + "_backward")(K.xp.asarray(g), K.xp.asarray(x), *args))
    want_out, want_grad = _hard_reference(name, x, g)
    tol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-15 if name != "elu" else 1e-14}[dtype]
    for got, want in ((out, want_out), (grad, want_grad)):
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)  # NaN where NaN, inf where inf


def test_cpu_piecewise_activations_in_every_layout():
    a = np.random.default_rng(8).standard_normal((6, 7, 5)).astype(np.float32) * 4
    for view in (a[:, ::2], a.transpose(2, 0, 1), np.float32(2.0) * np.ones((), np.float32)):
        for name, args in PIECEWISE_ARGS.items():
            want_out, want_grad = _hard_reference(name, view, np.ones_like(view))
            out = getattr(kernels.cpu, name)(view, *args)
            grad = getattr(kernels.cpu, name + "_backward")(np.ones_like(view), view, *args)
            assert out.shape == grad.shape == view.shape
            np.testing.assert_allclose(out, want_out, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_where_is_numpys_where(K, dtype, monkeypatch):
    """K.where(cond, x, y) equals np.where, value and dtype, for arrays and numbers (Python's, NumPy
    scalars, 0-d arrays) on either side, NaN and infinities included; on the CPU the same-shape contiguous
    float cases run the one-pass loop and the others (broadcasting, mixed dtypes, a float64 scalar beside
    float32 arrays, non-contiguous or float16 arrays) NumPy's where."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 7)).astype(dtype)
    x.flat[::6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30]
    y = rng.standard_normal((5, 7)).astype(dtype)
    cond = x > 0
    loops = []
    if K is kernels.cpu:
        loop = kernels.cpu.select._where
        monkeypatch.setattr(kernels.cpu.select, "_where", lambda *a: loops.append(1) or loop(*a))
    one_pass = [(x, y), (x, 0.0), (2, y), (x, dtype(3.5)), (np.asarray(-1.5, dtype), y)]
    numpy_ones = [(x, y[:1]), (x, y.astype(np.float16)), (x, np.float64(2.0) if dtype == np.float32 else 1j),
                  (x.T.copy().T, y), (x.astype(np.float16), y.astype(np.float16))]
    for a, b in one_pass + numpy_ones:
        got = _host(K, K.where(K.xp.asarray(cond), *(K.xp.asarray(v) if isinstance(v, np.ndarray) else v
                                                       for v in (a, b))))
        want = np.where(cond, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    if K is kernels.cpu:
        assert len(loops) == len(one_pass)


def test_vexpm1_is_expm1_to_one_ulp_near_zero_too():
    """kernels.cpu._exp.vexpm1: relative error within 1.5 ulp of expm1 from 1e-30 (where exp(x) - 1 loses
    everything) to the overflow, both signs, in float32 and float64; the edges as expm1's."""
    from numba import njit

    from kernels.cpu._exp import vexpm1

    @njit
    def run(z, out):
        for i in range(z.size):
            out[i] = vexpm1(z[i])

    for dtype, hi in ((np.float32, 88.0), (np.float64, 709.0)):
        magnitudes = np.geomspace(1e-30, hi, 100001)
        z = np.concatenate([-magnitudes, magnitudes, [-0.5, 0.5, np.nextafter(0.5, 0)]]).astype(dtype)
        out = np.empty_like(z)
        run(z, out)
        exact = np.expm1(z.astype(np.longdouble))
        assert np.max(np.abs(out - exact) / np.abs(exact)) < 1.5 * np.finfo(dtype).eps
        edge = np.array([-np.inf, np.nan, np.inf, -1e30, 1e30, 0.0, -0.0], dtype)
        out = np.empty_like(edge)
        run(edge, out)
        np.testing.assert_array_equal(out, [-1, np.nan, np.inf, -1, np.inf, 0, -0.0])
        assert np.signbit(out[-1])


@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_clamp_bounds_none_crossed_and_arrays(K, monkeypatch):
    """clamp: one bound None, min > max (max everywhere, no gradient), bounds that are arrays (NumPy's
    maximum / minimum and their broadcasting), integers; the loop runs for a float array and number bounds."""
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 0)  # the two-thread loop on these small arrays
    monkeypatch.setattr(kernels.cpu.activation, "CLAMP_LOOP_FROM", 0)
    x = np.array([-3.0, -1.0, 0.5, 2.0, np.nan, np.inf, -np.inf], dtype=np.float32)
    g = np.arange(1, 8, dtype=np.float32)
    a, ga = K.xp.asarray(x), K.xp.asarray(g)
    with np.errstate(invalid="ignore"):
        for lo, hi in ((0.0, None), (None, 0.0), (1.0, -1.0), (-1, 2)):
            want = x if lo is None else np.maximum(x, lo)
            want = want if hi is None else np.minimum(want, hi)
            keep = (True if lo is None else x >= lo) & (True if hi is None else x <= hi)
            out = _host(K, K.clamp(a, lo, hi))
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out, want)
            np.testing.assert_array_equal(_host(K, K.clamp_backward(ga, a, lo, hi)), np.where(keep, g, 0))
        bound = np.array([[0.0], [1.0]], dtype=np.float32)
        out = _host(K, K.clamp(a, K.xp.asarray(bound), None))
        np.testing.assert_array_equal(out, np.maximum(x, bound))
        grad = K.clamp_backward(K.xp.asarray(np.ones((2, 7), np.float32)), a, K.xp.asarray(bound), None)
        np.testing.assert_array_equal(_host(K, grad), (x >= bound).astype(np.float32))
    ints = np.arange(-4, 4)
    np.testing.assert_array_equal(_host(K, K.clamp(K.xp.asarray(ints), -1, 2)), np.clip(ints, -1, 2))
    assert K.clamp(K.xp.asarray(ints), -1, 2).dtype == ints.dtype
