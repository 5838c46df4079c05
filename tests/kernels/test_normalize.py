"""kernels.cpu's batch-norm loops against kernels/_normalize.py's array maths (which kernels.cuda runs, and
the cpu runs for every other layout): the same outputs, statistics and gradients."""
import numpy as np
import pytest

import kernels.cpu
from kernels import _normalize
from kernels.cpu import normalize as cpu_normalize


def _case(dtype, fixed, affine, seed=0, shape=(4, 3, 10)):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.uniform(0.5, 2, c).astype(dtype) if affine else None
    b = rng.uniform(-1, 1, c).astype(dtype) if affine else None
    stats = (rng.uniform(-1, 1, (1, c, 1)).astype(dtype), rng.uniform(0.5, 2, (1, c, 1)).astype(dtype))
    return x, w, b, stats if fixed else None


def _matches_the_array_maths(x, w, b, axes, param, stats, tol):
    """kernels.cpu's normalize_forward and normalize_backward (three sets of needs) against the array maths;
    returns forward's outputs."""
    args = (axes, param, 1e-5, stats)
    ours = kernels.cpu.normalize_forward(x, w, b, *args)
    ref = _normalize.normalize_forward(np, x, w, b, *args)
    for name, a, r in zip(["y", "mean", "var", "invstd"], ours, ref):
        assert a.shape == r.shape and a.dtype == x.dtype, name
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=name)
    g = np.random.default_rng(9).standard_normal(x.shape).astype(x.dtype)
    for needs in [(True, True, True), (True, False, False), (False, True, True)]:
        back = (x, ours[1], ours[3], w, axes, param, stats is None, needs)
        for name, a, r in zip(["gx", "gw", "gb"], kernels.cpu.normalize_backward(g, *back),
                              _normalize.normalize_backward(np, g, *back)):
            if r is None:
                assert a is None, name
                continue
            assert a.shape == r.shape and a.dtype == x.dtype, name
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol * 10, err_msg=f"{name} {needs}")
    return ours, ref


@pytest.mark.parametrize("threads", ["serial", "parallel"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("fixed", [False, True], ids=["batch_stats", "fixed_stats"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 10), (6, 150, 1)], ids=["NCL", "features"])  # 150: 3 channel blocks
def test_batch_loops_match_the_array_maths(shape, dtype, tol, fixed, affine, threads, monkeypatch):
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1 << 40 if threads == "serial" else 0)
    x, w, b, stats = _case(dtype, fixed, affine, shape=shape)
    param = (1, shape[1], 1)
    assert cpu_normalize._batch_layout(x, (0, 2), param)  # the loops run, not the fallback
    ours, ref = _matches_the_array_maths(x, w, b, (0, 2), param, stats, tol)
    if fixed:  # backward's mean is forward's own copy of the given one
        assert not np.shares_memory(ours[1], stats[0]) and not np.shares_memory(ref[1], stats[0])


def test_other_layouts_leave_the_batch_loops():
    x = np.random.default_rng(0).standard_normal((4, 3, 10))
    assert not cpu_normalize._batch_layout(x, (2,), (1, 3, 1))  # instance norm's axes
    assert not cpu_normalize._batch_layout(x.astype(np.float16), (0, 2), (1, 3, 1))
    assert not cpu_normalize._batch_layout(x.transpose(0, 1, 2)[:, :, ::2], (0, 2), (1, 3, 1))
    y = kernels.cpu.normalize_forward(x, None, None, (2,), (1, 3, 1), 1e-5, None)[0]
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 1)])
def test_a_nan_spoils_only_its_channel(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    x[1, 1, -1] = np.nan
    y = kernels.cpu.normalize_forward(x, None, None, (0, 2), (1, 3, 1), 1e-5, None)[0]
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()


@pytest.mark.parametrize("threads", ["serial", "parallel"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rows", [3, 40])  # fewer rows than the gradient's row blocks, and more
def test_row_loops_match_the_array_maths(dtype, tol, affine, rows, threads, monkeypatch):
    """Layer norm's layout, (M, K) with statistics per row and parameters per column."""
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1 << 40 if threads == "serial" else 0)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((rows, 24)) * 3 + 1).astype(dtype)
    w = rng.uniform(0.5, 2, 24).astype(dtype) if affine else None
    b = rng.uniform(-1, 1, 24).astype(dtype) if affine else None
    assert cpu_normalize._row_layout(x, (1,), (1, 24))  # the loops run, not the fallback
    _matches_the_array_maths(x, w, b, (1,), (1, 24), None, tol)


def test_row_loops_keep_a_nan_in_its_row_and_leave_other_layouts():
    x = np.random.default_rng(2).standard_normal((5, 8)).astype(np.float32)
    x[2, 3] = np.nan
    y, mean, _, invstd = kernels.cpu.normalize_forward(x, None, None, (1,), (1, 8), 1e-5, None)
    assert np.isnan(y[2]).all() and np.isfinite(np.delete(y, 2, axis=0)).all()
    gx, gw, gb = kernels.cpu.normalize_backward(np.ones_like(x), x, mean, invstd, None, (1,), (1, 8), True,
                                                (True, True, True))
    assert np.isnan(gx[2]).all() and np.isfinite(np.delete(gx, 2, axis=0)).all()
    assert not cpu_normalize._row_layout(x[:, ::2], (1,), (1, 4))  # a view
    assert not cpu_normalize._row_layout(x, (0,), (8, 1))  # statistics per column
    assert not cpu_normalize._row_layout(x.astype(np.float16), (1,), (1, 8))


@pytest.mark.parametrize("threads", ["serial", "parallel"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("norm", ["instance", "group"])
def test_segment_loops_match_the_array_maths(norm, dtype, tol, affine, threads, monkeypatch):
    """Instance norm's layout (N, C, L), statistics over axis 2, and group norm's (N, G, C / G, L) over
    (2, 3): parameters per channel, a segment of L elements of a statistics row."""
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1 << 40 if threads == "serial" else 0)
    rng = np.random.default_rng(3)
    shape, axes, param = {"instance": ((3, 4, 10), (2,), (1, 4, 1)),
                          "group": ((3, 2, 3, 10), (2, 3), (1, 2, 3, 1))}[norm]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.uniform(0.5, 2, param).astype(dtype) if affine else None
    b = rng.uniform(-1, 1, param).astype(dtype) if affine else None
    assert cpu_normalize._segment_layout(x, axes, param)  # the loops run, not the fallback
    _matches_the_array_maths(x, w, b, axes, param, None, tol)


def test_segment_loops_leave_given_statistics_and_other_layouts():
    x = np.random.default_rng(4).standard_normal((2, 3, 5))
    fixed = (np.zeros((1, 3, 1)), np.ones((1, 3, 1)))
    y = kernels.cpu.normalize_forward(x, None, None, (2,), (1, 3, 1), 1e-5, fixed)[0]  # eval-mode statistics
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5))
    assert not cpu_normalize._segment_layout(x[:, :, ::2], (2,), (1, 3, 1))
    assert not cpu_normalize._segment_layout(x, (1, 2), (1, 1, 1))
    assert not cpu_normalize._segment_layout(x[:, :, :0], (2,), (1, 3, 1))  # nothing to normalise
