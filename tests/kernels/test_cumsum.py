"""kernels.cpu / kernels.cuda cumsum: every axis, from either end; the CPU adds float32 in float64 and
rounds each prefix once (PyTorch's CPU cumsum: the same bits), NumPy's for other dtypes."""
import numpy as np
import pytest

import kernels.cpu
from tests.kernels.test_activation import _host, _tables


def _reference(x, axis, reverse):
    dtype = np.cumsum(np.zeros(1, x.dtype)).dtype  # NumPy's: int32 sums to int64
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x
    if reverse:
        return np.flip(np.cumsum(np.flip(wide, axis=axis), axis=axis), axis=axis).astype(dtype)
    return np.cumsum(wide, axis=axis).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_every_axis_from_either_end(K, dtype, reverse):
    x = (np.random.default_rng(11).standard_normal((3, 40, 5)) * 10).astype(dtype)
    for axis in (0, 1, 2, -1):
        got = _host(K, K.cumsum(K.xp.asarray(x), axis, reverse=reverse))
        want = _reference(x, axis, reverse)
        assert got.shape == x.shape and got.dtype == want.dtype
        if K is kernels.cpu or dtype == np.int32:
            np.testing.assert_array_equal(got, want)
        else:  # CuPy adds float32 in float32
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_cpu_float32_matches_float64_accumulation_and_edge_shapes():
    x = np.random.default_rng(12).standard_normal((64, 4096)).astype(np.float32)
    np.testing.assert_array_equal(kernels.cpu.cumsum(x, -1), _reference(x, -1, False))
    np.testing.assert_array_equal(kernels.cpu.cumsum(x[:, ::3], 1), _reference(x[:, ::3], 1, False))  # a view
    assert kernels.cpu.cumsum(np.zeros((0, 3), np.float32), 1).shape == (0, 3)
    np.testing.assert_array_equal(kernels.cpu.cumsum(np.array([1.0, np.nan, 2.0]), 0), [1.0, np.nan, np.nan])


def test_cpu_float32_is_pytorchs_bits():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).standard_normal((8, 3000)).astype(np.float32)
    for axis in (0, 1):
        want = torch.cumsum(torch.from_numpy(x), axis).numpy()
        np.testing.assert_array_equal(kernels.cpu.cumsum(x, axis), want)


@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_rows_side_by_side_and_broadcast_input(reverse):
    # the last-axis loop sums four rows at a time: 7 rows is one such block and three single rows
    x = np.random.default_rng(14).standard_normal((7, 33)).astype(np.float32)
    np.testing.assert_array_equal(kernels.cpu.cumsum(x, 1, reverse=reverse), _reference(x, 1, reverse))
    # sum()'s gradient is a broadcast (all strides 0): read as it is, not copied, and the result is a new
    # contiguous array that does not alias it
    g = np.broadcast_to(np.float32(0.5), (9, 6, 5))
    for axis in (0, 1, 2):
        got = kernels.cpu.cumsum(g, axis, reverse=reverse)
        assert got.flags.c_contiguous and got.flags.writeable
        np.testing.assert_array_equal(got, _reference(np.ascontiguousarray(g), axis, reverse))
