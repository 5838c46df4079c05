"""kernels.cpu / kernels.cuda softplus, log_sigmoid and mish with their gradients, against float64
references of PyTorch's definitions, at the edges, every float dtype and layout; and kernels.cpu._log's
vlog1p, which the float32 loops use.

vlog1p's polynomial q (kernels/cpu/_log.py) was fitted with NumPy: on 4,000 Chebyshev nodes f of
[sqrt(1/2) - 1, sqrt(2) - 1] (|f| > 1e-3), least squares of (log1p(f) - f + f^2 / 2) / f^3 in powers of f
(np.vander, degree 7), each row weighted by |f^3 / log1p(f)|. Over every float32 input above -1 (3.2e9
values, checked once, not here: ~2.5 minutes) it was within 0.79 ulp of float64 log1p, and equal to log1p
rounded to float32 for 99.5% of them.
"""
import numpy as np
import pytest

import kernels.cpu
from tests.kernels.test_activation import _host, _tables

EDGES = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 20.0, 20.5, -20.0, 88.0, -88.0, 100.0, -100.0, np.inf, -np.inf,
         np.nan]


def _reference(name, x, g):
    """softplus (beta 2, threshold 5), log_sigmoid and mish and their input gradients in float64 NumPy
    (PyTorch's definitions; mish's softplus has threshold 20)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "softplus":
            bx = 2 * x
            soft = np.logaddexp(0, bx) / 2
            return np.where(bx > 5, x, soft), np.where(bx > 5, g, g / (1 + np.exp(-bx)))
        if name == "log_sigmoid":
            return -np.logaddexp(0, -x), g / (1 + np.exp(x))
        t = np.tanh(np.where(x > 20, x, np.logaddexp(0, x)))
        return x * t, g * (t + x * (1 - t * t) / (1 + np.exp(-x)))


ARGS = {"softplus": (2.0, 5.0), "log_sigmoid": (), "mish": ()}


@pytest.mark.parametrize("name", list(ARGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_values_and_gradients_at_the_edges(K, dtype, name):
    """Within a few float32 ulps of the float64 values (mish's gradient, which crosses 0 near x = -1.19 and
    cancels there, within 2e-6 absolutely); NaN where NaN, inf where inf, no overflow at +-100."""
    x = np.concatenate([EDGES, np.random.default_rng(12).standard_normal(2000) * 8]).astype(dtype)
    g = np.concatenate([np.ones(len(EDGES)), np.random.default_rng(13).standard_normal(2000)]).astype(dtype)
    out = _host(K, getattr(K, name)(K.xp.asarray(x), *ARGS[name]))
    grad = _host(K, getattr(K, name + "_backward")(K.xp.asarray(g), K.xp.asarray(x), *ARGS[name]))
    want_out, want_grad = _reference(name, x, g)
    rtol = {np.float16: 2e-3, np.float32: 6e-7, np.float64: 1e-14}[dtype]
    atol = {np.float16: 2e-3, np.float32: 2e-6 if name == "mish" else 1e-30, np.float64: 1e-14}[dtype]
    for got, want in ((out, want_out), (grad, want_grad)):
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    if name == "mish":
        assert np.signbit(out[1])  # -0.0 * tanh(log 2)


def test_cpu_layouts_and_both_thread_counts(monkeypatch):
    from kernels.cpu import _serial
    a = (np.random.default_rng(14).standard_normal((40, 7, 5)) * 8).astype(np.float32)
    for view in (a[:, ::2], a.transpose(2, 0, 1)):
        g = np.ones_like(view)
        for name, args in ARGS.items():
            runs = []
            for limit in (1 << 40, 0):  # serial, then two threads
                monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
                runs.append((getattr(kernels.cpu, name)(view, *args),
                             getattr(kernels.cpu, name + "_backward")(g, view, *args)))
            for serial, parallel, expected in zip(*runs, _reference(name, view, g)):
                assert serial.shape == view.shape
                np.testing.assert_array_equal(parallel, serial)
                np.testing.assert_allclose(serial, expected, rtol=6e-7, atol=2e-6)


def test_vlog1p_is_log1p_to_one_ulp():
    """vlog1p over -1 < x <= float32's largest: a log-spaced sweep of both signs (dense near -1 and 0,
    where the rounding of 1 + x matters) within 1 ulp of float64 log1p; the edges as libm's."""
    from numba import njit

    from kernels.cpu._log import vlog1p

    @njit
    def run(z, out):
        for i in range(z.size):
            out[i] = vlog1p(z[i])

    magnitudes = np.geomspace(1e-38, 3.4e38, 400001)
    near_minus_one = -1 + np.geomspace(6e-8, 1, 100001)
    z = np.concatenate([magnitudes, -magnitudes[magnitudes < 1], near_minus_one]).astype(np.float32)
    out = np.empty_like(z)
    run(z, out)
    exact = np.log1p(z.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - exact) / ulp) <= 1.0
    edges = np.array([-1.0, -1.5, -np.inf, np.inf, np.nan, -0.0, 0.0, 1e-45, -1e-45], dtype=np.float32)
    out = np.empty_like(edges)
    run(edges, out)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_array_equal(out, np.log1p(edges))
    assert np.signbit(out[5]) and not np.signbit(out[6])


def test_vlog1p_unit_is_vlog1p_on_its_range():
    """vlog1p_unit (softplus's and logsigmoid's log1p of exp(-|x|)) gives vlog1p's bits on 0 <= x <= 1
    (dense near 0, where the rounding of 1 + x matters, subnormal inputs included) and NaN for NaN."""
    from numba import njit

    from kernels.cpu._log import vlog1p, vlog1p_unit

    @njit
    def run(z, general, unit):
        for i in range(z.size):
            general[i] = vlog1p(z[i])
            unit[i] = vlog1p_unit(z[i])

    rng = np.random.default_rng(60)
    z = np.concatenate([np.geomspace(1e-45, 1, 300001), rng.uniform(0, 1, 300000), [0.0, 1.0, np.nan]])
    z = z.astype(np.float32)
    general, unit = np.empty_like(z), np.empty_like(z)
    run(z, general, unit)
    assert np.isnan(unit[-1])
    np.testing.assert_array_equal(unit.view(np.int32)[:-1], general.view(np.int32)[:-1])
