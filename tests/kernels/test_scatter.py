"""kernels.cpu / kernels.cuda add_rows (target[index[i]] += values[i]) and add_along_axis (the inverse of
take_along_axis) with repeated and negative indices, as NumPy's add.at; the CPU loops refuse indices outside
the target (NumPy's IndexError) instead of wrapping."""
import numpy as np
import pytest

import kernels.cpu
from tests.kernels.test_activation import _host, _tables


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_rows_add_up_as_add_at(K, dtype):
    rng = np.random.default_rng(9)
    target = rng.integers(-5, 5, (7, 3, 4)).astype(dtype)
    index = np.array([0, 3, 3, -1, 6, 0, 0, 2, -7])
    values = rng.integers(-9, 9, (index.size, 3, 4)).astype(dtype)
    want = target.copy()
    np.add.at(want, index, values)
    t = K.xp.asarray(target)
    K.add_rows(t, K.xp.asarray(index), K.xp.asarray(values))
    np.testing.assert_array_equal(_host(K, t), want)


def test_cpu_rows_outside_the_target_raise():
    target = np.zeros((4, 2), np.float32)
    for bad in (4, -5):
        with pytest.raises(IndexError, match=f"index {bad} is out of bounds for axis 0 with size 4"):
            kernels.cpu.add_rows(target, np.array([0, bad]), np.ones((2, 2), np.float32))
    assert not target.any()  # checked before anything is added
    kernels.cpu.add_rows(target, np.array([], dtype=np.int64), np.ones((0, 2), np.float32))
    assert not target.any()


def _along_reference(target, axis, index, values):
    """np.add.at at the positions take_along_axis reads."""
    grids = list(np.ogrid[tuple(slice(0, s) for s in index.shape)])
    grids[axis] = index
    want = target.copy()
    np.add.at(want, tuple(grids), values)
    return want


ALONG = [((6, 5), 1, (6, 9)), ((6, 5), 0, (11, 5)), ((3, 7, 4), 1, (3, 12, 4)), ((3, 7, 4), -1, (3, 7, 6)),
         ((3, 7, 4), 0, (5, 7, 4)), ((2, 4, 3), 1, (1, 6, 2)),  # smaller off the axis (scatter_add allows it)
         ((5,), 0, (8,))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("target_shape, axis, index_shape", ALONG, ids=str)
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_add_along_axis_is_add_at_where_take_along_axis_reads(K, target_shape, axis, index_shape, dtype):
    rng = np.random.default_rng(4)
    n = target_shape[axis]
    target = rng.integers(-5, 5, target_shape).astype(dtype)
    index = rng.integers(-n, n, index_shape)  # repeats and negative indices
    values = rng.integers(-9, 9, index_shape).astype(dtype)
    t = K.xp.array(target)  # a copy on either table
    K.add_along_axis(t, axis, K.xp.asarray(index), K.xp.asarray(values))
    np.testing.assert_array_equal(_host(K, t), _along_reference(target, axis, index, values))


def test_add_along_axis_threads_give_the_serial_numbers(monkeypatch):
    from kernels.cpu import _serial
    rng = np.random.default_rng(5)
    index = rng.integers(0, 50, (64, 300, 3))
    values = rng.standard_normal((64, 300, 3))
    outs = []
    for limit in (0, 1 << 40):
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        target = np.zeros((64, 50, 3))
        kernels.cpu.add_along_axis(target, 1, index, values)
        outs.append(target)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], _along_reference(np.zeros((64, 50, 3)), 1, index, values), rtol=1e-12)


def test_cpu_add_along_axis_errors_before_adding():
    target = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        kernels.cpu.add_along_axis(target, 1, np.array([[0, 3]] * 4), np.ones((4, 2), np.float32))
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 1 with size 3"):
        kernels.cpu.add_along_axis(target, -1, np.array([[0, -4]] * 4), np.ones((4, 2), np.float32))
    assert not target.any()
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        kernels.cpu.add_along_axis(target, 2, np.zeros((4, 2), np.int64), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="no larger off axis 1"):
        kernels.cpu.add_along_axis(target, 1, np.zeros((5, 2), np.int64), np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="integer array of values' shape"):
        kernels.cpu.add_along_axis(target, 1, np.zeros((4, 2)), np.ones((4, 2), np.float32))


# ALONG's shapes but the one smaller off the axis (take_along_axis's contract: the source's shape there), and
# an empty index
TAKE = [case for case in ALONG if case != ((2, 4, 3), 1, (1, 6, 2))] + [((2, 4, 3), 1, (2, 0, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("source_shape, axis, index_shape", TAKE, ids=str)
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_take_along_axis_is_numpys(K, source_shape, axis, index_shape, dtype):
    rng = np.random.default_rng(6)
    n = source_shape[axis]
    source = rng.standard_normal(source_shape).astype(dtype) if dtype != np.int64 else \
        rng.integers(-9, 9, source_shape)
    index = rng.integers(-n, n, index_shape)  # repeats and negative indices
    got = K.take_along_axis(K.xp.asarray(source), axis, K.xp.asarray(index))
    want = np.take_along_axis(source, index, axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_host(K, got), want)


def test_cpu_take_along_axis_threads_and_views(monkeypatch):
    from kernels.cpu import _serial
    rng = np.random.default_rng(7)
    source = rng.standard_normal((40, 15, 6))
    index = rng.integers(-15, 15, (40, 20, 6)).astype(np.int32)
    want = np.take_along_axis(source, index, 1)
    for limit in (0, 1 << 40):  # the threaded and the serial loop
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        np.testing.assert_array_equal(kernels.cpu.take_along_axis(source, 1, index), want)
    for view in (rng.standard_normal((40, 30, 6))[:, ::2, ::-1],  # read where it is
                 np.broadcast_to(rng.standard_normal((1, 15, 1)), (40, 15, 6)),
                 rng.standard_normal((40, 6, 15)).transpose(0, 2, 1),
                 rng.standard_normal((6, 40, 15)).transpose(1, 2, 0)):  # strides in any order
        got = kernels.cpu.take_along_axis(view, 1, index)
        np.testing.assert_array_equal(got, np.take_along_axis(view, index, 1))


def test_cpu_take_along_axis_errors():
    source = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        kernels.cpu.take_along_axis(source, 1, np.array([[0, 3]] * 4))
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 1 with size 3"):
        kernels.cpu.take_along_axis(source, -1, np.array([[0, -4]] * 4))
    with pytest.raises(np.exceptions.AxisError):
        kernels.cpu.take_along_axis(source, 2, np.zeros((4, 2), np.int64))
    with pytest.raises(IndexError):  # another shape off the axis: NumPy's broadcasting error
        kernels.cpu.take_along_axis(source, 1, np.zeros((3, 2), np.int64))
