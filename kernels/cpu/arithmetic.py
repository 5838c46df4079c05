"""add, sub, mul, div, maximum and minimum of two same-shape float arrays (the first four also of such an
array and a Python number), add_ in place (autograd's gradient sums), a * sign(b) (abs's gradient), and
neg, square, cube, abs, sqrt and rsqrt of a float array, on all of Numba's threads (NumPy for the rest).

NumPy runs a ufunc on one thread, and on arrays past the L2 cache one core's bandwidth bounds it.
Measured on an Intel Xeon (2 vCPUs, float32, NumPy against this file's loop on two threads): 65,536
elements 19.1 -> 9.0 us, 301,056 (LeNet's first activation) 136 -> 42 us, 2**21 (the ResNet-style
block's residual add) 1,155 -> 528 us; at 8,192 NumPy's call is cheaper (2.8 against 3.2 us). Yet with
another library's threads busy on the other vCPU (PyTorch's, spinning after its own call, in
examples/benchmark_elementwise.py's interleaved rounds) a 65,536-element add took 0.046 ms threaded
against NumPy's 0.021, so ``PARALLEL_FROM`` is the other elementwise loops' 2**17 (kernels/cpu/_serial.py).
Each element is the same correctly rounded IEEE operations either way (one; rsqrt's two as NumPy's
1 / sqrt(a), cube's (a * a) * a), so the results are NumPy's bit for bit, signed zeros included (maximum
and minimum give b where a == b, as NumPy and PyTorch do; a NaN in either gives NaN, its payload not
necessarily NumPy's; mul_sign's are its NumPy formula's). A number is cast to the array's dtype first, as
NumPy casts a Python number, and a 0-d array of the array's dtype (or one broadcast to the array's shape)
is that dtype's number already. Anything else (other broadcasting, mixed or integer dtypes, non-contiguous
arrays, NumPy scalars, 0-d arrays of another dtype, a number with maximum or minimum) is NumPy's
unchanged. The loops set no NumPy error flags: sqrt(-1) is NaN without NumPy's RuntimeWarning, as in
PyTorch.
"""
import math
import operator

import numpy as np
from numba import njit, prange

from kernels.cpu._serial import serial_below

__all__ = ["abs", "add", "add_", "cube", "div", "maximum", "minimum", "mul", "mul_sign", "neg", "rsqrt",
           "sqrt", "square", "sub"]

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


# an array and a Python number (the number cast to the array's dtype first, as NumPy does); a - s runs
# as a + (-s), the same bits in IEEE arithmetic (_sub_number below)
@njit(parallel=True, cache=True)
def _add_number(a, s, out):
    for i in prange(a.size):
        out[i] = a[i] + s


@njit(parallel=True, cache=True)
def _number_sub(a, s, out):
    for i in prange(a.size):
        out[i] = s - a[i]


@njit(parallel=True, cache=True)
def _mul_number(a, s, out):
    for i in prange(a.size):
        out[i] = a[i] * s


@njit(parallel=True, cache=True, error_model="numpy")
def _div_number(a, s, out):
    for i in prange(a.size):
        out[i] = a[i] / s


@njit(parallel=True, cache=True, error_model="numpy")
def _number_div(a, s, out):
    for i in prange(a.size):
        out[i] = s / a[i]


@njit(parallel=True, cache=True)
def _maximum(a, b, out):
    for i in prange(a.size):
        x = a[i]
        y = b[i]
        out[i] = x if x > y or x != x else y


@njit(parallel=True, cache=True)
def _minimum(a, b, out):
    for i in prange(a.size):
        x = a[i]
        y = b[i]
        out[i] = x if x < y or x != x else y


@njit(parallel=True, cache=True)
def _mul_sign(g, a, out):
    one, zero = g.dtype.type(1), g.dtype.type(0)
    for i in prange(g.size):
        x = a[i]
        out[i] = g[i] * (one if x > zero else (-one if x < zero else zero))


@njit(parallel=True, cache=True)
def _mul_sign_number(g, s, out):  # a one number: its sign
    one, zero = g.dtype.type(1), g.dtype.type(0)
    sign = one if s > zero else (-one if s < zero else zero)
    for i in prange(g.size):
        out[i] = g[i] * sign


@njit(parallel=True, cache=True)
def _number_mul_sign(a, s, out):  # g one number (a sum's gradient), a the array
    one, zero = a.dtype.type(1), a.dtype.type(0)
    for i in prange(a.size):
        x = a[i]
        out[i] = s * (one if x > zero else (-one if x < zero else zero))


@njit(parallel=True, cache=True)
def _neg(a, out):
    for i in prange(a.size):
        out[i] = -a[i]


@njit(parallel=True, cache=True)
def _square(a, out):
    for i in prange(a.size):
        out[i] = a[i] * a[i]


@njit(parallel=True, cache=True)
def _cube(a, out):
    for i in prange(a.size):
        out[i] = a[i] * a[i] * a[i]


@njit(parallel=True, cache=True)
def _abs(a, out):
    for i in prange(a.size):
        out[i] = np.abs(a[i])  # not abs(): this module's abs is the public function below


@njit(parallel=True, cache=True, error_model="numpy")
def _sqrt(a, out):
    for i in prange(a.size):
        out[i] = math.sqrt(a[i])


@njit(parallel=True, cache=True, error_model="numpy")
def _rsqrt(a, out):
    one = out.dtype.type(1)
    for i in prange(a.size):
        out[i] = one / math.sqrt(a[i])


_default_from = []  # the default PARALLEL_FROM, once known (looking it up costs a call on every op)


def _parallel_from():
    if not _default_from:
        _default_from.append(serial_below(1 << 20, 1 << 17))
    return _default_from[0]


_FLOATS = (np.float32, np.float64)


def _binary(loop_name, numpy_op, number_loops, doc):
    """The public function: the threaded pass (this module's global `loop_name`, looked up when used) for
    same-shape, same-dtype, C-contiguous float arrays of at least PARALLEL_FROM elements, and
    number_loops = (array op number, number op array) (global names; a number is a Python int or float,
    or an array of the array's dtype that holds one number (_is_number), such as a loss gradient g / n;
    None: NumPy's) for such an array with a number; numpy_op otherwise."""
    ndarray = np.ndarray  # (a closure's cell is read faster than np's attribute)

    def op(a, b):
        limit = PARALLEL_FROM
        if limit is None:
            limit = _default_from[0] if _default_from else _parallel_from()
        # the cheap tests first, inline: most calls are on small arrays, where this adds to the per-op cost
        if type(a) is ndarray and a.size >= limit and a.dtype in _FLOATS and a.flags.c_contiguous:
            if type(b) is ndarray:
                if a.shape == b.shape and a.dtype == b.dtype and b.flags.c_contiguous:
                    return _run(loop_name, a, b)
                if number_loops and b.dtype == a.dtype and _is_number(b, a.shape):
                    return _run(number_loops[0], a, b.flat[0])
            elif (type(b) is float or type(b) is int) and number_loops:
                return _run(number_loops[0], a, a.dtype.type(b))
        elif (number_loops and type(b) is ndarray and b.size >= limit and b.dtype in _FLOATS
              and b.flags.c_contiguous):
            if type(a) is float or type(a) is int:
                return _run(number_loops[1], b, b.dtype.type(a))
            if type(a) is np.ndarray and a.dtype == b.dtype and _is_number(a, b.shape):
                return _run(number_loops[1], b, a.flat[0])
        return numpy_op(a, b)

    op.__name__ = op.__qualname__ = loop_name.lstrip("_")
    op.__doc__ = doc
    return op


def _is_number(x, shape):
    """Whether the array x is one number as an operand with an array of `shape`: 0-d, or that shape
    broadcast from one element (all strides 0, as a sum's or a mean's gradient reaches the op before)."""
    return x.ndim == 0 or x.shape == shape and not any(x.strides)


def _run(loop_name, a, b):
    out = np.empty_like(a)
    b = b.reshape(-1) if type(b) is np.ndarray else b
    globals()[loop_name](a.reshape(-1), b, out.reshape(-1))
    return out


def _sub_number(a, s, out):  # a - s is a + (-s), bit for bit
    _add_number(a, -s, out)


add = _binary("_add", operator.add, ("_add_number", "_add_number"), "a + b with NumPy's rules.")
sub = _binary("_sub", operator.sub, ("_sub_number", "_number_sub"), "a - b with NumPy's rules.")
mul = _binary("_mul", operator.mul, ("_mul_number", "_mul_number"), "a * b with NumPy's rules.")
div = _binary("_div", operator.truediv, ("_div_number", "_number_div"),
              "a / b with NumPy's rules (true division).")


def add_(a, b):
    """a += b in place with NumPy's rules (b broadcast to a, cast to a's dtype); returns a. Autograd's
    accumulations (a leaf's .grad, two gradients of one input): the threaded pass where a is a large
    C-contiguous float array and b of its shape and dtype (or one number broadcast), NumPy's += else
    (NumPy's in-place add runs on one thread: 4M float32, 0.77 ms against PyTorch's 0.46)."""
    limit = PARALLEL_FROM
    if limit is None:
        limit = _default_from[0] if _default_from else _parallel_from()
    if a.size < limit:  # first and alone: most sums are of small gradients, where this is the per-op cost
        a += b
        return a
    if (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype in _FLOATS
            and b.dtype == a.dtype and a.flags.c_contiguous and a.flags.writeable
            and not (b is not a and np.may_share_memory(a, b))):  # a shifted view of a: NumPy's buffering
        flat = a.reshape(-1)
        if b.shape == a.shape and b.flags.c_contiguous:
            _add(flat, b.reshape(-1), flat)
            return a
        if _is_number(b, a.shape):
            _add_number(flat, b.flat[0], flat)
            return a
    a += b
    return a


maximum = _binary("_maximum", np.maximum, None, "np.maximum(a, b): NaN where either is NaN.")
minimum = _binary("_minimum", np.minimum, None, "np.minimum(a, b): NaN where either is NaN.")


def _numpy_mul_sign(g, a):
    return g * ((a > 0).astype(g.dtype) - (a < 0))


mul_sign = _binary("_mul_sign", _numpy_mul_sign, ("_mul_sign_number", "_number_mul_sign"),
                   "a * sign(b), the sign 0 at 0 and at NaN (PyTorch's sgn: abs's gradient is 0 there).")


def _unary(loop_name, numpy_fn, doc):
    """The public function: the threaded pass (global `loop_name`) for a C-contiguous float array of at
    least PARALLEL_FROM elements, numpy_fn otherwise."""
    def op(a):
        limit = PARALLEL_FROM
        if limit is None:
            limit = _default_from[0] if _default_from else _parallel_from()
        if not (type(a) is np.ndarray and a.size >= limit and a.dtype in _FLOATS and a.flags.c_contiguous):
            return numpy_fn(a)
        out = np.empty_like(a)
        globals()[loop_name](a.reshape(-1), out.reshape(-1))
        return out

    op.__name__ = op.__qualname__ = loop_name.lstrip("_")
    op.__doc__ = doc
    return op


neg = _unary("_neg", operator.neg, "-a with NumPy's rules.")
square = _unary("_square", lambda a: a * a, "a * a with NumPy's rules.")
cube = _unary("_cube", lambda a: a * a * a, "a * a * a with NumPy's rules (PyTorch's bits for a ** 3).")
abs = _unary("_abs", np.abs, "np.abs(a).")  # noqa: A001 (the op's name, as np.abs and torch.abs)
sqrt = _unary("_sqrt", np.sqrt, "np.sqrt(a).")
rsqrt = _unary("_rsqrt", lambda a: 1 / np.sqrt(a), "1 / np.sqrt(a), NumPy's bits.")
