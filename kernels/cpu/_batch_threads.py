"""Split a batch over threads that each run single-threaded BLAS and GIL-free Numba loops.

Convolution interleaves serial work (im2col, col2im, layout copies) with GEMMs. Leaving the GEMMs to
OpenBLAS's own threads measured badly on this kind of machine: after each GEMM OpenBLAS's worker keeps
spinning (calling sched_yield) for ~0.1 s, and the serial loop that follows on the other core ran up to
6.5x slower next to it (im2col of LeNet's first layer: 0.53 ms alone, 3.5 ms right after a 2-thread
GEMM; how much depends on the host's state from minute to minute, PyTorch's timings did not move).
Here each thread takes a contiguous part of the batch and runs all of its steps (im2col, GEMM on one
BLAS thread, col2im): the serial steps run in parallel too, and no BLAS worker is left spinning.
OpenBLAS's thread count is process-wide: while a split call runs, NumPy work in other threads also gets
one BLAS thread (kernels/cpu/_blas_threads.py).

Threads: as many as ``numba.get_num_threads()`` (``gpunet.set_num_threads`` sets it), the calling
thread being one of them; the others come from a pool started on first use (and again in a forked
child, where the parent's pool threads do not exist).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

from kernels.cpu._blas_threads import single_threaded_blas

_lock = threading.Lock()
_pool = None
_in_worker = threading.local()  # set inside pool threads: a nested split runs serially, not in the pool

# Below this many bytes of work (the caller's estimate) one thread runs the whole batch: waking a pool
# thread and switching BLAS's thread count cost ~20-40 us.
MIN_SPLIT_BYTES = 256 << 10


def _forget_pool():
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def _executor(workers):
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kernels-batch",
                                       initializer=setattr, initargs=(_in_worker, "active", True))
        return _pool


def ranges(n, parts):
    """[(lo, hi)] splitting range(n) into `parts` contiguous pieces of near-equal size (none empty)."""
    parts = max(1, min(parts, n))
    return [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]


_thread_count = numba.get_num_threads  # read per call: gpunet.set_num_threads may change it


def map_batch(run, n, work_bytes):
    """[run(lo, hi) for each part of range(n)], on one BLAS thread each: the parts run on parallel threads
    when the batch has several samples and `work_bytes` (the bytes the parts touch) is worth it; else
    [run(0, n)] on the calling thread."""
    threads = _thread_count()
    if threads < 2 or n < 2 or work_bytes < MIN_SPLIT_BYTES or getattr(_in_worker, "active", False):
        with single_threaded_blas():
            return [run(0, n)]
    parts = ranges(n, threads)
    pool = _executor(len(parts) - 1)
    with single_threaded_blas():
        futures = [pool.submit(run, lo, hi) for lo, hi in parts[1:]]
        try:
            first = run(*parts[0])
        finally:
            for f in futures:  # wait for all parts even when ours raised: they write into the caller's arrays
                f.exception()
    return [first] + [f.result() for f in futures]  # result() raises what a part raised
