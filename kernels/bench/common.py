"""Timing helpers and the machine's measured ceilings (GEMM rate, memory bandwidth)."""
import ctypes
import time

import numpy as np

try:
    import torch
except ImportError:  # benchmarks still run; the PyTorch columns stay empty
    torch = None


def sync(device):
    if device == "cuda":
        from kernels.cuda._launch import SIMULATOR, xp
        if not SIMULATOR:
            xp.cuda.get_current_stream().synchronize()
    elif torch is not None and device == "torch-cuda":
        torch.cuda.synchronize()


SETTLE_S = 0.03
# After a GEMM, OpenBLAS's worker threads keep spinning (yielding) for ~2**28 cycles (~0.1 s here) before
# they sleep; PyTorch's next 2-thread call, timed inside that window, measured 0.13 -> 3.7-29 ms (LeNet c2
# forward). Rounds that time a BLAS-calling fn next to PyTorch wait this long between fns.
BLAS_SETTLE_S = 0.25


def median_time(fn, device="cpu", repeat=7, warmup=2, settle=SETTLE_S):
    """Median wall time of fn() in seconds over `repeat` runs after `warmup` runs.

    Starts with a short idle gap: PyTorch's OpenMP threads keep spinning for several ms after its last
    call and would take a core from whatever is timed next (the two libraries share this process).
    """
    time.sleep(settle)
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_times(fns, devices, repeat, stat="median", warmup=2, per_round=3, settle=SETTLE_S):
    """Median (or, with stat="min", the best) seconds of each fn over `repeat` rounds, the fns in turn
    within every round so that the shared machine's drifting load hits every contender alike.

    In a round each fn gets an idle gap of `settle` seconds (PyTorch's OpenMP threads keep spinning for
    several ms after its call and took a core from whatever ran next: gpunet's optimizer step measured
    20-30% slower; OpenBLAS's workers spin far longer, see BLAS_SETTLE_S) and one untimed call (a
    library whose threads went to sleep pays their wake-up once, as between two steps of a training
    loop), then `per_round` timed calls back to back. devices[i] is what `sync` needs for fns[i]
    ("cpu", "cuda", "torch-cuda").
    """
    for fn, device in zip(fns, devices):
        for _ in range(warmup):
            fn()
        sync(device)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, device, out in zip(fns, devices, times):
            time.sleep(settle)
            fn()
            sync(device)
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                sync(device)
                out.append(time.perf_counter() - t0)
    reduce = np.min if stat == "min" else np.median
    return [float(reduce(t)) for t in times]


def compare(ours, theirs, device, repeat, **rounds):
    """(seconds of ours, seconds of theirs or None when theirs is None), timed in turn by interleaved_times;
    theirs is PyTorch's version of the same work on the same device."""
    if theirs is None:
        return interleaved_times([ours], [device], repeat, **rounds)[0], None
    torch_device = "torch-cuda" if device == "cuda" else device
    t_ours, t_theirs = interleaved_times([ours, theirs], [device, torch_device], repeat, **rounds)
    return t_ours, t_theirs


def keep_heap():
    """Keep glibc from returning large freed blocks to the OS after every call: PyTorch's unfused paths
    allocate temporaries, and page-faulting them in again made its steps erratic."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 2 ** 31)  # M_TRIM_THRESHOLD
    except OSError:
        pass


def row(kernel, shape, seconds, work, unit, roof, torch_seconds=None, note=""):
    """One table row. work is FLOPs (unit 'GFLOP/s') or bytes moved (unit 'GB/s')."""
    rate = work / seconds / 1e9
    return {
        "kernel": kernel,
        "shape": shape,
        "ms": seconds * 1e3,
        "rate": rate,
        "unit": unit,
        "pct_roof": 100.0 * rate / roof[unit] if roof.get(unit) else None,
        "torch_ms": None if torch_seconds is None else torch_seconds * 1e3,
        "ratio": None if torch_seconds is None else seconds / torch_seconds,
        "note": note,
    }
