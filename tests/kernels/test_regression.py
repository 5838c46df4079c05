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
