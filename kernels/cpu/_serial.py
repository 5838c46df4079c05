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


# by_size loops whose first argument has fewer elements (divided by the loop's cost) run serially (None:
# 2**20 under workqueue, 2**17 under TBB or OpenMP). On 2 cores (serial -> two threads), 2**21 float32
# elements: ReLU's backward 0.39 -> 0.20 ms; 301,056: 0.040 -> 0.025 ms; 65,536: ReLU's backward 0.009
# serial against 0.011. A parallel call costs ~3-5 us more than a serial one (TBB, measured through these
# loops), so loops that do more per element win on two threads sooner (float32, serial against two
# threads): GELU 14.6 / 12.0 us at 16,384 elements and 45.5 / 30.5 at 65,536; sigmoid 13.2 / 13.3 at
# 32,768 and 24.6 / 17.7 at 65,536.
SIZE_SERIAL_BELOW = None


def by_size(cost=1, **options):
    """Decorator for a loop written with ``prange`` (over elements, rows or channels): compiled parallel and
    serial (``serial_twin``); a call whose first argument has fewer than SIZE_SERIAL_BELOW / cost elements
    runs the serial one. cost: the loop's work per element against ReLU's (an exp: 4, GELU's tail: 8)."""
    def compile_both(fn):
        return _Elementwise(njit(parallel=True, cache=True, **options)(fn), options, cost)
    return compile_both


class _Elementwise:
    def __init__(self, parallel, options, cost):
        self.parallel = parallel
        self.serial = serial_twin(parallel, **options)
        self.cost = cost
        self.default_limit = None  # SIZE_SERIAL_BELOW's default, once known (a call less per op after)

    def __call__(self, *args):
        limit = SIZE_SERIAL_BELOW
        if limit is None:
            limit = self.default_limit
            if limit is None:
                limit = self.default_limit = serial_below(1 << 20, 1 << 17)
        (self.serial if args[0].size * self.cost < limit else self.parallel)(*args)
