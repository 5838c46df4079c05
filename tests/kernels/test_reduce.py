"""kernels.cpu / kernels.cuda sum and mean: NumPy's result types and shapes for every axis argument; the
CPU's float32 loops (whole array, last axis) within one float32 ulp of the exact sum; NumPy's own call
for everything else."""
import importlib

import numpy as np
import pytest

import kernels.cpu
from tests.kernels.test_activation import _host, _tables

reduce_module = importlib.import_module("kernels.cpu.reduce")  # (kernels.cpu.sum is the function)


def _spy(monkeypatch):
    calls = []
    for name in ("_block_sums", "_row_sums"):
        loop = getattr(reduce_module, name)
        monkeypatch.setattr(reduce_module, name, lambda *a, _f=loop, _n=name: calls.append(_n) or _f(*a))
    return calls


def _ulp32(x):
    return np.spacing(np.abs(np.asarray(x, dtype=np.float64)).astype(np.float32)).astype(np.float64)


@pytest.mark.parametrize("shape", [(64, 6, 28, 28), (5, 40001), (70000,), (3, 1, 20000)])
def test_float32_loops_are_within_one_ulp_of_the_exact_sum(shape, monkeypatch):
    """Whole-array and last-axis sums and means (as None, -1, ndim - 1, a 1-tuple, all axes, keepdims):
    the loops run, the result is NumPy's type and shape, and within 1 ulp of the float64 sum rounded to
    float32 (NumPy's pairwise float32 sum is not held to that)."""
    x = (np.random.default_rng(20).standard_normal(shape) * 3 + 1).astype(np.float32)
    exact = x.astype(np.float64)
    calls = _spy(monkeypatch)
    axes = [None, -1, x.ndim - 1, (x.ndim - 1,), tuple(range(x.ndim))]
    for axis in axes:
        for keepdims in (False, True):
            for name in ("sum", "mean"):
                got = getattr(kernels.cpu, name)(x, axis, keepdims)
                want = getattr(x, name)(axis=axis, keepdims=keepdims)
                assert type(got) is type(want) and np.shape(got) == np.shape(want) and got.dtype == want.dtype
                truth = getattr(exact, name)(axis=axis, keepdims=keepdims)
                assert np.all(np.abs(got - truth) <= _ulp32(truth)), (axis, keepdims, name)
    assert len(calls) == len(axes) * 4


def test_nan_and_inf_propagate_and_overflow_gives_inf():
    x = np.ones((4, 40000), dtype=np.float32)
    x[1, 5], x[2, 7], x[3, :] = np.nan, np.inf, 3e38
    rows = kernels.cpu.sum(x, -1)
    assert rows[0] == 40000 and np.isnan(rows[1]) and rows[2] == np.inf and rows[3] == np.inf
    assert np.isnan(kernels.cpu.sum(x)) and np.isnan(kernels.cpu.mean(x))
    assert kernels.cpu.mean(x[2:], -1)[1] == np.float32(3e38)  # the float64 sum does not overflow


def test_everything_else_is_numpys_call(monkeypatch):
    """float64, dtype=, other axes, non-contiguous, small and empty arrays: NumPy's own result, bit for
    bit, and no loop."""
    calls = _spy(monkeypatch)
    x = np.random.default_rng(21).standard_normal((300, 200)).astype(np.float32)
    cases = [(x.astype(np.float64), None, None), (x, None, np.float64), (x, 0, None), (x, (0,), None),
             (x.T, -1, None), (x[:, ::2], None, None), (x[:10], -1, None), (x[:, :0], -1, None),
             (x.astype(np.int32), None, None)]
    for a, axis, dtype in cases:
        for keepdims in (False, True):
            got = kernels.cpu.sum(a, axis, keepdims, dtype)
            want = a.sum(axis=axis, keepdims=keepdims, dtype=dtype)
            assert type(got) is type(want) and np.shape(got) == np.shape(want) and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    with pytest.raises(np.exceptions.AxisError):
        kernels.cpu.sum(x, 2)
    assert calls == []


def test_serial_and_two_thread_loops_agree(monkeypatch):
    from kernels.cpu import _serial
    x = np.random.default_rng(22).standard_normal((9, 5001)).astype(np.float32)
    runs = []
    for limit in (1 << 40, 0):
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        runs.append((kernels.cpu.sum(x), kernels.cpu.sum(x, -1), kernels.cpu.mean(x, -1)))
    for serial, parallel in zip(*runs):
        np.testing.assert_array_equal(parallel, serial)


@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_both_tables_give_numpys_shapes(K):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for axis in (None, -1, (0, 2)):
        got = _host(K, K.sum(K.xp.asarray(x), axis, True))
        np.testing.assert_array_equal(got, x.sum(axis=axis, keepdims=True))
        np.testing.assert_allclose(_host(K, K.mean(K.xp.asarray(x), axis)), x.mean(axis=axis))
