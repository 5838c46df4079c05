"""Matrix products on the GPU: CuPy's (cuBLAS); kernels.cpu's twin runs mid-sized ones on one BLAS thread."""
from kernels.cuda._launch import xp

__all__ = ["matmul"]


def matmul(a, b):
    """a @ b with NumPy's rules; 2-D float32/float64 products of m*n*k in (BLAS_THREADS_ABOVE,
    ONE_THREAD_UP_TO] run on one BLAS thread (kernels.cpu; kernels.cuda: CuPy's matmul)."""
    return xp.matmul(a, b)
