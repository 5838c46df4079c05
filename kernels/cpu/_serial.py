"""Serial twins of parallel Numba kernels, for calls too small to be worth waking the thread pool.

A ``prange`` loop compiled with ``parallel=True`` pays for waking Numba's pool on every call (~85 us
under the workqueue layer gpunet uses, even with ``numba.set_num_threads(1)``); the same loop compiled
without it runs ``prange`` as ``range`` on the calling thread. The twin is compiled from a copy of the
function with its own ``__qualname__``: Numba's on-disk cache keys entries by qualified name and
signature, not by the parallel flag, so the two versions must not share a name.
"""
import types

from numba import njit


def serial_twin(kernel, **options):
    """``njit(cache=True, **options)`` of the Python function behind the parallel dispatcher ``kernel``."""
    fn = kernel.py_func
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                              fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    return njit(cache=True, **options)(twin)
