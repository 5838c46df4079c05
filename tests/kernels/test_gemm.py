"""kernels.cpu.matmul / kernels.cuda.matmul: NumPy's matmul; mid-sized CPU products on one BLAS thread."""
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


@pytest.mark.skipif(not kernels.cuda.available(), reason="kernels.cuda unavailable")
def test_cuda_matmul_is_cupys():
    xp = kernels.cuda.xp
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 400)).astype(np.float32)
    b = rng.standard_normal((400, 120)).astype(np.float32)
    np.testing.assert_allclose(xp.asnumpy(kernels.cuda.matmul(xp.asarray(a), xp.asarray(b))), a @ b,
                               rtol=2e-5, atol=1e-3)
