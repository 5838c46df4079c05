"""kernels.cpu / kernels.cuda add_rows: target[index[i]] += values[i] with repeated and negative rows, as
NumPy's add.at; the CPU loop refuses rows outside the target (NumPy's IndexError) instead of wrapping."""
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
