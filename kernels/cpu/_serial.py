"""Serial twins of parallel Numba kernels, for calls too small to be worth waking the thread pool.

A ``prange`` loop compiled with ``parallel=True`` pays for waking Numba's pool on every call: ~2 us
under the TBB layer, ~85-120 us under workqueue (also with ``numba.set_num_threads(1)``); see
kernels/__init__.py for which layer runs. The same loop compiled without it runs ``prange`` as
``range`` on the calling thread. The twin is compiled from a copy of the function with its own
``__qualname__``: Numba's on-disk cache keys entries by qualified name and signature, not by the
parallel flag, so the two versions must not share a name.
"""
import types

import numba
from numba import njit

_dear_wakeup = None


def serial_below(if_dear, if_cheap):
    """The size below which a kernel should run its serial twin: ``if_dear`` under the workqueue layer,
    whose pool wake-up costs ~100 us, ``if_cheap`` under TBB or OpenMP. Starts Numba's pool once."""
    global _dear_wakeup
    if _dear_wakeup is None:
        numba.get_num_threads()  # initialises the threading layer
        _dear_wakeup = numba.threading_layer() == "workqueue"
    return if_dear if _dear_wakeup else if_cheap


def serial_twin(kernel, **options):
    """``njit(cache=True, **options)`` of the Python function behind the parallel dispatcher ``kernel``."""
    fn = kernel.py_func
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                              fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    return njit(cache=True, **options)(twin)
