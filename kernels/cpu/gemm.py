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
A few rows times a transposed weight (x @ W^T, a Linear's forward on a small batch, with at most THIN_ROWS
rows, at least THIN_RATIO times more columns and more than THIN_ABOVE multiply-adds) is computed as (W @
x^T)^T and copied contiguous: OpenBLAS ran that orientation 1.2-2.8x faster on one thread and on two (float32,
the copy included, us; one thread: 16 x 256 x 1024 207 -> 117, 8 x 128 x 1024 85 -> 45, 32 x 256 x 256 72 ->
52; two threads: 8 x 1024 x 1024 407 -> 191, 32 x 1024 x 4096 3,883 -> 2,329, 4 x 4096 x 4096 7,457 -> 4,645).
With 64 rows it was as often slower as faster (64 x 64 x 512 44 -> 58, 64 x 256 x 2048 598 -> 648, 64 x 1024 x
512 676 -> 484), and on tiny products (4 x 256 x 64, 2 x 64 x 16) the extra calls cost 15-30%.
Operands NumPy would not hand to BLAS (neither of the last two axes of unit stride with the other spanning it)
are copied first: NumPy multiplies those in its own loop, and the gradient of `y.sum()` is a broadcast array
of stride 0, so a Linear(4096, 4096) on one row took 141 ms for forward and backward (PyTorch 16-20,
examples/benchmark_ops.py): the weight gradient's outer product 4096 x 1 x 4096 and the input gradient each
ran in that loop. An outer product (inner dimension 1) is NumPy's broadcast multiply, one pass: 26 -> 9 ms for
that one, against BLAS's GEMM; the same numbers (one product per element, no sum).
"""
import numpy as np

from kernels.cpu._blas_threads import single_threaded_blas

__all__ = ["matmul"]

# OpenBLAS threads a GEMM when m * n * k exceeds 65536 * 4 (its SMP_THRESHOLD_MIN times
# GEMM_MULTITHREAD_THRESHOLD); smaller ones it runs on the calling thread anyway.
BLAS_THREADS_ABOVE = 1 << 18
ONE_THREAD_UP_TO = 1 << 22
THIN_ROWS = 32
THIN_RATIO = 8
THIN_ABOVE = 1 << 16


def _blas_ready(a):
    """a, or a C-contiguous copy where NumPy's matmul would not pass it to BLAS."""
    if a.flags.c_contiguous or a.ndim < 2 or (a.ndim == 2 and a.flags.f_contiguous):  # the usual, cheap test
        return a
    (rows, cols), (row_step, col_step), item = a.shape[-2:], a.strides[-2:], a.itemsize
    if (col_step == item and row_step >= cols * item) or (row_step == item and col_step >= rows * item):
        return a
    return np.ascontiguousarray(a)


def _thin_times_transposed(a, b):
    """Whether a @ b is a few rows times a transposed matrix, faster as (b^T a^T)^T."""
    rows, inner, cols = a.shape[0], a.shape[1], b.shape[1]
    return (rows <= THIN_ROWS and cols >= THIN_RATIO * rows and rows * inner * cols > THIN_ABOVE
            and b.flags.f_contiguous and not b.flags.c_contiguous)


def _product(a, b):
    if _thin_times_transposed(a, b):
        return np.ascontiguousarray(np.matmul(b.T, a.T).T)
    return np.matmul(a, b)


def matmul(a, b):
    """a @ b with NumPy's rules; float32/float64 operands BLAS cannot read are copied, 2-D products of m*n*k
    in (BLAS_THREADS_ABOVE, ONE_THREAD_UP_TO] run on one BLAS thread, a few rows times a transposed matrix
    as (b^T a^T)^T (kernels.cpu; kernels.cuda: CuPy's matmul)."""
    if not (a.dtype == b.dtype and a.dtype in (np.float32, np.float64)):
        return np.matmul(a, b)
    if a.ndim == b.ndim == 2 and a.shape[1] == 1 == b.shape[0]:  # an outer product (a weight gradient)
        return np.multiply(a, b)
    a, b = _blas_ready(a), _blas_ready(b)
    if not a.ndim == b.ndim == 2:
        return np.matmul(a, b)
    if BLAS_THREADS_ABOVE < a.shape[0] * a.shape[1] * b.shape[1] <= ONE_THREAD_UP_TO:
        with single_threaded_blas():
            return _product(a, b)
    return _product(a, b)
