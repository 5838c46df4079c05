"""Run a block of NumPy code with OpenBLAS on one thread (and restore its count after).

Attention multiplies many small matrices (one (rows x E) @ (E x S) per batch entry and head): OpenBLAS
splits each over its threads and wakes and joins them per call, which on a busy machine costs far more
than the product (measured here, load ~8 on 2 cores: causal SDPA fwd+bwd on (64, 128, 64) float32 took a
median 0.9-1.2 s with 2 BLAS threads, 45-60 ms with 1). The count is OpenBLAS's process-wide setting:
NumPy work in other threads during the block also runs on one BLAS thread. Without OpenBLAS (another
BLAS, or the library cannot be asked) the block runs unchanged.
"""
import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

_lock = threading.Lock()
_state = {"depth": 0, "saved": 1}  # open blocks, and the thread count to restore when the last one closes
_api = []  # [(get, set)] once looked up; [None] when unavailable


def _lookup():
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(libs):
        try:
            lib = ctypes.CDLL(path)  # NumPy loaded it already: the same library, not a second copy
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                return get, put
    return None


@contextlib.contextmanager
def single_threaded_blas():
    """OpenBLAS on one thread inside the block (nested and concurrent blocks restore it once)."""
    if not _api:
        _api.append(_lookup())
    api = _api[0]
    if api is None:
        yield
        return
    get, put = api
    with _lock:
        if _state["depth"] == 0:
            _state["saved"] = get()
            put(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                put(_state["saved"])
