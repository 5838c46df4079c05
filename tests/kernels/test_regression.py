"""kernels.cpu / kernels.cuda smooth_l1 and huber: each element's loss and derivative in d = input - target,
as PyTorch defines them, at the edge, 0, NaN and the infinities, every float dtype and layout."""
import numpy as np
import pytest

import kernels.cpu
import kernels.cuda
from tests.kernels.test_activation import _host, _tables


def _reference(kind, d, edge):
    d = d.astype(np.float64)
    z = np.abs(d)
    inside = z < edge
    with np.errstate(invalid="ignore"):
        if kind == "smooth_l1":
            loss = np.where(inside, 0.5 * z * z / edge, z - 0.5 * edge)
            return loss, np.where(inside, d / edge, np.sign(d))
        loss = np.where(inside, 0.5 * z * z, edge * (z - 0.5 * edge))
        return loss, np.where(inside, d, edge * np.sign(d))


@pytest.mark.parametrize("kind,edge", [("smooth_l1", 1.0), ("smooth_l1", 0.25), ("huber", 1.0),
                                       ("huber", 2.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_loss_and_derivative_per_element(K, dtype, kind, edge):
    d = np.concatenate([[edge, -edge, 0.0, -0.0, np.nan, np.inf, -np.inf, edge * 0.999, -edge * 1.001],
                        np.random.default_rng(10).standard_normal(300) * 3]).astype(dtype)
    loss, deriv = (_host(K, a) for a in getattr(K, kind)(K.xp.asarray(d), edge))
    want_loss, want_deriv = _reference(kind, d, edge)
    tol = {np.float16: 2e-3, np.float32: 3e-7, np.float64: 1e-15}[dtype]
    for got, want in ((loss, want_loss), (deriv, want_deriv)):
        assert got.dtype == dtype and got.shape == d.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert deriv[2] == 0 and loss[2] == 0 and np.isnan(deriv[4]) and np.isnan(loss[4])


def test_cpu_layouts_and_both_thread_counts(monkeypatch):
    from kernels.cpu import _serial
    a = (np.random.default_rng(11).standard_normal((40, 7, 5)) * 3).astype(np.float32)
    for view in (a[:, ::2], a.transpose(2, 0, 1)):
        runs = []
        for limit in (1 << 40, 0):  # serial, then two threads
            monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
            runs.append(kernels.cpu.huber(view, 1.5))
        want = _reference("huber", view, 1.5)
        for serial, parallel, expected in zip(*runs, want):
            assert serial.shape == view.shape
            np.testing.assert_array_equal(parallel, serial)
            np.testing.assert_allclose(serial, expected, rtol=3e-7, atol=3e-7)
    assert kernels.cuda.smooth_l1.__doc__ == kernels.cpu.smooth_l1.__doc__


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_error_sum_and_gradient(K, squared):
    kind = "mse" if squared else "l1"
    """sum((x - t)^2) or sum(|x - t|) within 1 float32 ulp of the exact sum (the CPU loop for large
    same-shape float32 arrays); c (x - t) exact to rounding, c sign(x - t) exact (0 at 0 and NaN, as
    PyTorch's l1_loss gradient); broadcasting, views and float64 as NumPy's."""
    rng = np.random.default_rng(12)
    x, t = (rng.standard_normal((300, 200)).astype(np.float32) for _ in range(2))
    x[0, :3], t[0, :3] = [np.nan, 1.0, -0.0], [0.0, 1.0, 0.0]
    d = x.astype(np.float64) - t
    error = d * d if squared else np.abs(d)
    c = np.float32(2 / 3)
    want_gradient = c * (d if squared else np.where(d > 0, 1, np.where(d < 0, -1, 0)))
    total = _host(K, K.error_sum(K.xp.asarray(x), K.xp.asarray(t), kind))
    assert total.dtype == np.float32 and total.shape == () and np.isnan(total)
    x[0, 0] = 0.0
    exact = error[1:].sum() + error[0, 1:].sum()
    total = _host(K, K.error_sum(K.xp.asarray(x), K.xp.asarray(t), kind))
    assert abs(float(total) - exact) <= np.spacing(np.float32(exact)) * (1 if K is kernels.cpu else 64)
    x[0, 0] = np.nan
    got = _host(K, K.error_gradient(K.xp.asarray(x), K.xp.asarray(t), K.xp.asarray(c), kind))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[1:], want_gradient[1:], rtol=2e-7, atol=1e-7)
    assert (np.isnan(got[0, 0]) if squared else got[0, 0] == 0) and got[0, 1] == 0 and got[0, 2] == 0
    x64, t64 = x[1:].astype(np.float64), t[1:].astype(np.float64)
    for a, b in ((x[1:], t[1:2]), (x64, t64), (x[1:, ::2], t[1:, ::2])):
        d, a, b = a - b, K.xp.asarray(a), K.xp.asarray(b)
        error = d * d if squared else np.abs(d)
        np.testing.assert_allclose(_host(K, K.error_sum(a, b, kind)), error.sum(), rtol=1e-6)
        np.testing.assert_allclose(_host(K, K.error_gradient(a, b, 0.5, kind)),
                                   0.5 * (d if squared else np.sign(d)), rtol=1e-7)


@pytest.mark.parametrize("kind,edge", [("smooth_l1", 0.5), ("huber", 1.5)])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_quadratic_inside_sums_and_gradients(K, kind, edge):
    """smooth_l1's and huber's sums within 1 float32 ulp of the float64 reference (the CPU loop for large
    same-shape float32 arrays), their derivatives times c to rounding (NaN at NaN, 0 at 0); broadcasting,
    views and float64 as NumPy's."""
    rng = np.random.default_rng(14)
    x, t = ((rng.standard_normal((300, 200)) * 2).astype(np.float32) for _ in range(2))
    x[0, :3], t[0, :3] = [np.nan, 1.0, -0.0], [0.0, 1.0, 0.0]
    c = np.float32(2 / 3)
    loss, deriv = _reference(kind, x.astype(np.float64) - t, edge)
    total = _host(K, K.error_sum(K.xp.asarray(x), K.xp.asarray(t), kind, edge))
    assert total.dtype == np.float32 and total.shape == () and np.isnan(total)
    got = _host(K, K.error_gradient(K.xp.asarray(x), K.xp.asarray(t), K.xp.asarray(c), kind, edge))
    assert got.dtype == np.float32 and np.isnan(got[0, 0]) and got[0, 1] == 0 and got[0, 2] == 0
    np.testing.assert_allclose(got[1:], c * deriv[1:], rtol=3e-7, atol=1e-7)
    x[0, 0] = 0.0
    exact = loss[1:].sum() + loss[0, 1:].sum()
    total = _host(K, K.error_sum(K.xp.asarray(x), K.xp.asarray(t), kind, edge))
    assert abs(float(total) - exact) <= np.spacing(np.float32(exact)) * (1 if K is kernels.cpu else 64)
    x64, t64 = x[1:].astype(np.float64), t[1:].astype(np.float64)
    for a, b in ((x[1:], t[1:2]), (x64, t64), (x[1:, ::2], t[1:, ::2])):
        want_loss, want_deriv = _reference(kind, a - b, edge)
        a, b = K.xp.asarray(a), K.xp.asarray(b)
        np.testing.assert_allclose(_host(K, K.error_sum(a, b, kind, edge)), want_loss.sum(), rtol=1e-6)
        np.testing.assert_allclose(_host(K, K.error_gradient(a, b, 0.5, kind, edge)), 0.5 * want_deriv,
                                   rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("kind", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_losses_take_the_fused_passes(monkeypatch, kind):
    """gpunet's mse_loss, l1_loss, smooth_l1_loss and huber_loss (mean and sum) on a large float32 tensor run
    the one-pass sum and gradient (serial and two-thread loops alike), with the float64 values; 'none' gives
    the same gradient."""
    import gpunet
    from kernels.cpu import _serial, regression
    calls = []
    for name in ("_error_blocks", "_error_gradient"):
        loop = getattr(regression, name)
        monkeypatch.setattr(regression, name, lambda *a, _f=loop, _n=name: calls.append(_n) or _f(*a))
    rng = np.random.default_rng(13)
    x_np, t_np = (rng.standard_normal((64, 1024)).astype(np.float32) for _ in range(2))
    d = x_np.astype(np.float64) - t_np
    if kind in ("smooth_l1_loss", "huber_loss"):
        error, derivative = _reference(kind[:-5], d, 1.0)
    else:
        error, derivative = (d * d, 2 * d) if kind == "mse_loss" else (np.abs(d), np.sign(d))
    loss_fn = getattr(gpunet.nn.functional, kind)
    for limit in (1 << 40, 0):
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        for reduction, scale in (("mean", 1 / d.size), ("sum", 1.0), ("none", 1.0)):
            x = gpunet.tensor(x_np, requires_grad=True)
            loss = loss_fn(x, gpunet.tensor(t_np), reduction=reduction)
            loss.backward(gpunet.ones(loss.shape))
            want = error.sum() * scale if loss.ndim == 0 else error
            np.testing.assert_allclose(loss.detach().numpy(), want, rtol=1e-6)
            np.testing.assert_allclose(x.grad.numpy(), derivative * scale, rtol=1e-6, atol=1e-12)
    # mse: the sum in forward, 2 (x - t) g in backward; l1: sign(x - t) and the sum in forward (backward
    # multiplies the saved sign by g / n: kernels.cpu.mul)
    reduced = ["_error_blocks", "_error_gradient"]
    reduced = reduced[::-1] if kind == "l1_loss" else reduced
    assert calls == (reduced * 2 + ["_error_gradient"]) * 2
