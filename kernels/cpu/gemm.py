"""Matrix products for gpunet's CPU layers: mid-sized ones on one BLAS thread (OpenBLAS's threads sleep).

After a GEMM on its threads, OpenBLAS's worker keeps spinning (calling sched_yield) for ~0.1 s, and heavy
work that follows on the other core runs up to 2-6x slower next to it (kernels/cpu/_batch_threads.py).
In a LeNet training step the fully connected layers' GEMMs (64 x 400 x 120) woke it every step and the
convolutions of the next step ran at half speed: conv1's forward took 2.1 ms in the step, 1.1 ms with
those GEMMs on one thread. A product of up to ONE_THREAD_UP_TO multiply-adds (~8 MFLOP, ~80 us on one
core) gains little from a second BLAS thread, so it runs on the calling thread with OpenBLAS held to one
thread. Larger ones keep OpenBLAS's threads: splitting them over gpunet's own threads measured slower
(0.72 against 0.53 ms for 128 x 784 x 512, one thread 1.0 ms), the thread hand-off costing ~0.1-0.2 ms.
Training steps, interleaved runs in one process (median ms): LeNet 9.8 -> 6.9, the MLP 2.68 -> 2.73.
The recurrent cells keep NumPy's matmul: their chains of 100 small products, with little work between,
ran 22% faster with OpenBLAS's two threads (GRU step 31.7 against 38.9 ms).
"""
import numpy as np

from kernels.cpu._blas_threads import single_threaded_blas

__all__ = ["matmul"]

# OpenBLAS threads a GEMM when m * n * k exceeds 65536 * 4 (its SMP_THRESHOLD_MIN times
# GEMM_MULTITHREAD_THRESHOLD); smaller ones it runs on the calling thread anyway.
BLAS_THREADS_ABOVE = 1 << 18
ONE_THREAD_UP_TO = 1 << 22


def matmul(a, b):
    """a @ b with NumPy's rules; 2-D float32/float64 products of m*n*k in (BLAS_THREADS_ABOVE,
    ONE_THREAD_UP_TO] run on one BLAS thread (kernels.cpu; kernels.cuda: CuPy's matmul)."""
    if (a.ndim == b.ndim == 2 and a.dtype == b.dtype and a.dtype in (np.float32, np.float64)
            and BLAS_THREADS_ABOVE < a.shape[0] * a.shape[1] * b.shape[1] <= ONE_THREAD_UP_TO):
        with single_threaded_blas():
            return np.matmul(a, b)
    return np.matmul(a, b)
