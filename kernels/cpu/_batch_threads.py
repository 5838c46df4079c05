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

The batch goes in up to PARTS_PER_THREAD parts per thread, each thread taking the next part when it is
done, not one fixed half per thread: the two vCPUs of a shared machine often run at different speeds
(the same direct conv loop took 1.29-1.78 ms pinned to one, 1.90 on the other, back to back), and with
halves the faster thread sat waiting (64x16x32x32 -> 32 forward: 4.3 ms for the calling thread's half,
6.0 for the pool thread's). Medians of 9-11 interleaved rounds in one process, halves / parts taken in
turn, ms: that forward 7.65 / 7.28 and 8.07 / 7.50, forward+backward 21.4 / 20.3 and 21.6 / 21.6; LeNet's
first layer forward 0.98 / 0.85 and 0.83 / 0.75, its second forward+backward 1.69 / 1.57 and 2.35 / 2.02;
the ResNet-style 64 -> 64 layer 12.2 / 12.2 and 15.8 / 14.6 forward, 53.7 / 55.3 and 49.7 / 49.7 with
backward. A part is at least MIN_PART_BYTES of the caller's work estimate.

Threads: as many as ``numba.get_num_threads()`` (``gpunet.set_num_threads`` sets it), the calling
thread being one of them; the others come from a pool started on first use (and again in a forked
child, where the parent's pool threads do not exist).
"""
import itertools
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
PARTS_PER_THREAD = 4
MIN_PART_BYTES = 128 << 10  # (a part costs a Python call and, summing weight gradients, one array more)


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
    [run(0, n)] on the calling thread. The parts are fixed by n, work_bytes and the thread count alone
    (so are the results: a caller that sums the parts' sums adds them in the same order every time); the
    threads take them in turn, a thread that finishes early taking the next."""
    threads = _thread_count()
    if threads < 2 or n < 2 or work_bytes < MIN_SPLIT_BYTES or getattr(_in_worker, "active", False):
        with single_threaded_blas():
            return [run(0, n)]
    count = max(threads, min(threads * PARTS_PER_THREAD, work_bytes // MIN_PART_BYTES))
    parts = ranges(n, count)
    results = [None] * len(parts)
    taken = itertools.count()  # next() on it is atomic under the GIL: each part goes to one thread
    failed = []

    def take_parts():
        for i in taken:
            if i >= len(parts) or failed:
                return
            try:
                results[i] = run(*parts[i])
            except BaseException:
                failed.append(True)
                raise

    helpers = min(threads, len(parts)) - 1
    pool = _executor(helpers)
    with single_threaded_blas():
        futures = [pool.submit(take_parts) for _ in range(helpers)]
        try:
            take_parts()
        finally:
            for f in futures:  # wait for the running parts even when ours raised: they write into our arrays
                f.exception()
    for f in futures:
        f.result()  # raises what a part raised
    return results
