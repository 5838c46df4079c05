"""kernels.cpu.matmul / kernels.cuda.matmul: NumPy's matmul; mid-sized CPU products on one BLAS thread, a few
rows times a transposed matrix in the other orientation, operands BLAS cannot read copied first."""
import numpy as np
import pytest

import kernels.cpu
import kernels.cuda
from kernels.cpu import _blas_threads
from kernels.cpu import gemm as cpu_gemm

# m*n*k below, inside and above the one-thread range (2**18, 2**22]
SHAPES = [(3, 4, 5), (64, 400, 120), (128, 784, 512), (1, 300, 1000)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_cpu_matmul_is_numpys(m, k, n, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5  # one BLAS thread may sum in another order than two
    np.testing.assert_allclose(kernels.cpu.matmul(a, b), np.matmul(a, b), rtol=tol, atol=tol * k)
    np.testing.assert_allclose(kernels.cpu.matmul(b.T, a.T), np.matmul(b.T, a.T), rtol=tol, atol=tol * k)


def test_cpu_matmul_holds_blas_to_one_thread_in_the_middle_range(monkeypatch):
    seen = []
    real = cpu_gemm.single_threaded_blas

    def spy():
        seen.append(1)
        return real()
    monkeypatch.setattr(cpu_gemm, "single_threaded_blas", spy)
    for (m, k, n), held in zip(SHAPES, [False, True, False, True]):
        seen.clear()
        kernels.cpu.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32))
        assert bool(seen) == held, (m, k, n)
    assert _blas_threads._state["depth"] == 0  # every block closed


def test_cpu_matmul_other_inputs_and_errors():
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(kernels.cpu.matmul(a, a.T), a @ a.T)  # integers
    x = np.ones((4, 5, 6), np.float32)
    np.testing.assert_array_equal(kernels.cpu.matmul(x, np.ones((6, 2), np.float32)), x @ np.ones((6, 2)))
    with pytest.raises(ValueError, match="matmul"):
        kernels.cpu.matmul(np.ones((700, 800), np.float32), np.ones((700, 30), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n,thin", [(16, 256, 1024, True), (1, 300, 1000, True), (32, 40, 512, True),
                                        (33, 40, 1024, False), (16, 40, 127, False), (4, 256, 64, False)])
def test_cpu_matmul_of_few_rows_and_a_transposed_weight(m, k, n, thin, dtype):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    assert cpu_gemm._thin_times_transposed(x, w.T) == thin
    assert not cpu_gemm._thin_times_transposed(x, np.ascontiguousarray(w.T))  # only a transposed view
    got = kernels.cpu.matmul(x, w.T)
    assert got.flags.c_contiguous and got.dtype == dtype and got.shape == (m, n)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * k)


def test_cpu_matmul_copies_what_blas_cannot_read_and_nothing_else():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 8)).astype(np.float32)
    for readable in (a, a.T, a[1:5, 2:7], a[1:5, 2:7].T, np.broadcast_to(a, (3, 6, 8))):
        assert cpu_gemm._blas_ready(readable) is readable
    ones = np.broadcast_to(np.float32(1), (6, 8))  # the gradient of y.sum(): stride 0
    for unreadable in (ones, a[::-1], a[:, ::2], np.broadcast_to(a[:1], (6, 8))):
        ready = cpu_gemm._blas_ready(unreadable)
        assert ready.flags.c_contiguous
        np.testing.assert_array_equal(ready, unreadable)
        b = rng.standard_normal((unreadable.shape[1], 5)).astype(np.float32)
        np.testing.assert_allclose(kernels.cpu.matmul(unreadable, b), np.matmul(unreadable, b), rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(kernels.cpu.matmul(b.T, unreadable.T), np.matmul(b.T, unreadable.T),
                                   rtol=1e-5, atol=1e-5)


def test_cpu_matmul_outer_product_is_numpys():
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((300, 1)).astype(dtype), rng.standard_normal((1, 200)).astype(dtype)
        got = kernels.cpu.matmul(a, b)
        assert got.dtype == dtype and got.shape == (300, 200) and got.flags.c_contiguous
        np.testing.assert_array_equal(got, np.matmul(a, b))
        ones = np.broadcast_to(dtype(1), (1, 300))  # y.sum()'s gradient, transposed: stride 0
        np.testing.assert_array_equal(kernels.cpu.matmul(ones.T, b), np.matmul(ones.T, b))
    with pytest.raises(ValueError, match="matmul"):  # (300, 1) @ (2, 200): an error, not a broadcast
        kernels.cpu.matmul(np.ones((300, 1)), np.ones((2, 200)))


@pytest.mark.skipif(not kernels.cuda.available(), reason="kernels.cuda unavailable")
def test_cuda_matmul_is_cupys():
    xp = kernels.cuda.xp
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 400)).astype(np.float32)
    b = rng.standard_normal((400, 120)).astype(np.float32)
    np.testing.assert_allclose(xp.asnumpy(kernels.cuda.matmul(xp.asarray(a), xp.asarray(b))), a @ b,
                               rtol=2e-5, atol=1e-3)
