"""kernels.cpu / kernels.cuda topk_indices: the first k of the stable order along each row (by value,
NaN as the largest, ties by index), the same as a full stable argsort's first k, on inputs that make the
CPU heap work hardest (ascending and descending rows: every element enters, or none) and on many ties."""
import numpy as np
import pytest

from tests.kernels.test_activation import _host, _tables


def _stable_first(a, k, largest):
    if largest:  # descending and stable, NaN first
        order = a.shape[1] - 1 - np.flip(np.argsort(np.flip(a, axis=1), axis=1, kind="stable"), axis=1)
    else:
        order = np.argsort(a, axis=1, kind="stable")
    return order[:, :k]


def _rows(dtype):
    rng = np.random.default_rng(7)
    n = 300
    rows = [rng.standard_normal(n), np.arange(n), np.arange(n)[::-1], rng.integers(0, 4, n), np.zeros(n)]
    a = np.array(rows, dtype=np.float64)
    if dtype != np.int64:
        nan_row = rng.standard_normal(n)
        nan_row[rng.choice(n, 30, replace=False)] = np.nan
        a = np.vstack([a, nan_row, np.full(n, np.nan)])
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_first_k_of_the_stable_order(K, dtype, largest):
    a = _rows(dtype)
    for k in (1, 2, 17, 64, 299, 300):
        got = _host(K, K.topk_indices(K.xp.asarray(a), k, largest))
        assert got.dtype == np.int64 and got.shape == (a.shape[0], k)
        np.testing.assert_array_equal(got, _stable_first(a, k, largest), err_msg=f"k={k}")


def test_cpu_serial_and_threaded_rows_agree(monkeypatch):
    import kernels.cpu
    from kernels.cpu import _serial
    a = np.random.default_rng(8).standard_normal((64, 3000)).astype(np.float32)
    runs = []
    for limit in (1 << 40, 0):
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        runs.append(kernels.cpu.topk_indices(a, 10, True))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], _stable_first(a, 10, True))


@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_float16_and_bool_rows(K):
    """Types Numba's loops lack take the same order in a wider type (float16: NaN kept)."""
    half = _rows(np.float16)
    flags = np.random.default_rng(14).integers(0, 2, (3, 100)).astype(bool)
    for a in (half, flags):
        for largest in (True, False):
            got = _host(K, K.topk_indices(K.xp.asarray(a), 7, largest))
            np.testing.assert_array_equal(got, _stable_first(a, 7, largest))
