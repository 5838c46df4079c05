"""add, sub, mul and div of two same-shape float arrays on all of Numba's threads (NumPy for the rest).

NumPy runs a binary ufunc on one thread, and on arrays past the L2 cache one core's bandwidth bounds it.
Measured on an Intel Xeon (2 vCPUs, float32, NumPy against this file's loop on two threads): 65,536
elements 19.1 -> 9.0 us, 301,056 (LeNet's first activation) 136 -> 42 us, 2**21 (the ResNet-style
block's residual add) 1,155 -> 528 us; at 8,192 NumPy's call is cheaper (2.8 against 3.2 us). Yet with
another library's threads busy on the other vCPU (PyTorch's, spinning after its own call, in
examples/benchmark_elementwise.py's interleaved rounds) a 65,536-element add took 0.046 ms threaded
against NumPy's 0.021, so ``PARALLEL_FROM`` is the other elementwise loops' 2**17 (kernels/cpu/_serial.py).
Each element is one IEEE operation either way, so the results are NumPy's bit for bit;
anything else (broadcasting, mixed or integer dtypes, non-contiguous arrays, Python numbers) is NumPy's
operator unchanged.
"""
import operator

import numpy as np
from numba import njit, prange

from kernels.cpu._serial import serial_below

__all__ = ["add", "div", "mul", "sub"]

PARALLEL_FROM = None  # elements; None: 2**20 under Numba's workqueue layer (~100 us to wake), 2**17 else


@njit(parallel=True, cache=True)
def _add(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] + b[i]


@njit(parallel=True, cache=True)
def _sub(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] - b[i]


@njit(parallel=True, cache=True)
def _mul(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] * b[i]


@njit(parallel=True, cache=True, error_model="numpy")  # x / 0 gives inf or NaN, as in NumPy
def _div(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] / b[i]


_default_from = []  # the default PARALLEL_FROM, once known (looking it up costs a call on every op)


def _binary(loop_name, numpy_op, doc):
    """The public function: the threaded pass (this module's global `loop_name`, looked up when used) for
    same-shape, same-dtype, C-contiguous float arrays of at least PARALLEL_FROM elements, numpy_op
    otherwise. One Python call per op, the cheap size test first: most calls are on small arrays, where
    this adds to the per-op overhead."""
    def op(a, b):
        limit = PARALLEL_FROM
        if limit is None:
            if not _default_from:
                _default_from.append(serial_below(1 << 20, 1 << 17))
            limit = _default_from[0]
        if (type(a) is np.ndarray and a.size >= limit and type(b) is np.ndarray and a.shape == b.shape
                and a.dtype == b.dtype and a.dtype in (np.float32, np.float64)
                and a.flags.c_contiguous and b.flags.c_contiguous):
            out = np.empty_like(a)
            globals()[loop_name](a.reshape(-1), b.reshape(-1), out.reshape(-1))
            return out
        return numpy_op(a, b)

    op.__name__ = op.__qualname__ = loop_name.lstrip("_")
    op.__doc__ = doc
    return op


add = _binary("_add", operator.add, "a + b with NumPy's rules.")
sub = _binary("_sub", operator.sub, "a - b with NumPy's rules.")
mul = _binary("_mul", operator.mul, "a * b with NumPy's rules.")
div = _binary("_div", operator.truediv, "a / b with NumPy's rules (true division).")
