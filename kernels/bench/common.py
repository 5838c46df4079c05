"""Timing helpers and the machine's measured ceilings (GEMM rate, memory bandwidth)."""
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


def median_time(fn, device="cpu", repeat=7, warmup=2):
    """Median wall time of fn() in seconds over `repeat` runs after `warmup` runs.

    Starts with a short idle gap: PyTorch's OpenMP threads keep spinning for several ms after its last
    call and would take a core from whatever is timed next (the two libraries share this process).
    """
    time.sleep(SETTLE_S)
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
