"""ReLU, sigmoid, SiLU, ELU, leaky ReLU, the hard activations and clamp on the CPU: one Numba pass each,
over two threads from 2**17 elements (2**15 for those with an exp, which costs more;
kernels/cpu/_serial.py's ``by_size``).

NumPy's ``maximum(x, 0)`` propagates NaN through a slow path and ``g * (out > 0)`` makes two passes and a
mask; on a 301,056-element float32 tensor (LeNet's first ReLU) they measured 0.12 and 0.10 ms against
0.027 and 0.038 ms for these loops on one thread (PyTorch: 0.062 and 0.025). An earlier session kept
these loops serial because a 2-thread ``prange`` right after an OpenBLAS GEMM waited for BLAS's
spinning worker (17 ms against 6.2 ms); the convolutions no longer leave that worker spinning
(kernels/cpu/_batch_threads.py), and small arrays (a Linear layer's output, mostly) stay serial.

sigmoid is 1 / (1 + exp(-x)) with kernels.cpu._exp's vectorised exp: exp(-x) overflowing to inf gives
exactly 0, so no branch on the sign is needed. error_model="numpy" lets the division vectorise (Numba's
default checks every division for zero, and that call kept the loop scalar: 1.19 against 0.11 ms).
NumPy needed 6 passes and 0.52 ms for 301,056 float32 elements (two exps, a minimum, an abs, a division).

leaky_relu, hardtanh (and relu6), hardsigmoid and hardswish, forward and backward, are one pass each too:
NumPy's where, clip, the masks and the arithmetic took 3-5 passes (65,536 float32 elements: hardtanh's
forward 51 us, PyTorch's 12 us; leaky_relu's 388 us, PyTorch's 30, NumPy's where being branchy:
kernels/cpu/select.py). Their edges are PyTorch's: NaN stays NaN forward; hardtanh's gradient is zero
where x <= min_val or x >= max_val (so a NaN input passes the gradient), hardsigmoid's is g * (1/6) on
-3 < x < 3, hardswish's 0 for x <= -3, g * (x / 3 + 1/2) for x < 3, else g (zero and g as they are: an
infinite g gives no NaN).

ELU (with selu's and celu's constants), scale * x for x > 0 else alpha * scale * expm1(x * input_scale), is
one pass in float32 with kernels.cpu._exp's vexpm1 (within 1 ulp of expm1) and its backward one pass from
the input (vexp); float64 keeps NumPy's expm1 and exp (vexp's and vexpm1's float64 polynomials do not
vectorise: a scalar loop, slower than NumPy).

clamp with number bounds is hardtanh's loop (max, then min: NaN kept, the upper bound where min > max, as
PyTorch's), one pass instead of NumPy's maximum and minimum (65,536 float32 elements: 0.071 against
PyTorch's 0.018 ms before, 0.030 against 0.024 after); its gradient passes where min <= x <= max (at the
bounds too, not at NaN).
"""
import numpy as np
from numba import prange

from kernels.cpu._exp import vexp, vexpm1
from kernels.cpu.select import where
from kernels.cpu._serial import by_size

__all__ = ["clamp", "clamp_backward", "elu", "elu_backward", "hardsigmoid", "hardsigmoid_backward",
           "hardswish", "hardswish_backward", "hardtanh", "hardtanh_backward", "leaky_relu",
           "leaky_relu_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "silu",
           "silu_backward", "tanh_backward"]


@by_size()
def _relu(x, out, zero):
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v <= zero else v  # NaN stays NaN, as in PyTorch


@by_size()
def _relu_backward(g, out, grad, zero):
    for i in prange(g.size):
        # a where, not a product (inf * 0 would give NaN); a NaN output passes the gradient, as in PyTorch
        grad[i] = zero if out[i] <= zero else g[i]


# The loops' dtypes, each with the loops' own int constants as its scalars: converting a number to a NumPy
# scalar costs ~0.2 us a call, as much as a small tensor's whole loop
_CONSTANTS = {np.dtype(t): {c: t(c) for c in (0, 1, 3, 6)} for t in (np.float32, np.float64)}


def _loopable(a, b=None):
    """Whether the loops take a (and b): a float32/float64 array, b of its dtype, both C-contiguous."""
    return (a.dtype in _CONSTANTS and a.flags.c_contiguous
            and (b is None or b.dtype == a.dtype and b.flags.c_contiguous))


def relu(x):
    """max(x, 0) elementwise, NaN kept (a new array of x's shape and dtype)."""
    if not _loopable(x):
        return np.maximum(x, 0)
    out = np.empty(x.shape, x.dtype)
    _relu(x.reshape(-1), out.reshape(-1), _CONSTANTS[x.dtype][0])
    return out


def relu_backward(grad_output, out):
    """ReLU's input gradient from its output: 0 where out <= 0, else grad_output (also where out is NaN)."""
    if not _loopable(grad_output, out):
        return np.where(out <= 0, grad_output.dtype.type(0), grad_output)
    grad = np.empty(grad_output.shape, grad_output.dtype)
    _relu_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), _CONSTANTS[grad.dtype][0])
    return grad


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _sigmoid(x, out, one):
    for i in prange(x.size):
        out[i] = one / (one + vexp(-x[i]))


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _silu(x, out, one):
    for i in prange(x.size):
        v = x[i]
        out[i] = v * (one / (one + vexp(-v)))


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _silu_backward(g, x, grad, one):
    for i in prange(x.size):
        v = x[i]
        s = one / (one + vexp(-v))
        grad[i] = g[i] * (s * (one + v * (one - s)))


@by_size(fastmath={"contract"})
def _sigmoid_backward(g, out, grad, one):
    for i in prange(g.size):
        s = out[i]
        grad[i] = g[i] * s * (one - s)


@by_size(fastmath={"contract"})
def _tanh_backward(g, out, grad, one):
    for i in prange(g.size):
        t = out[i]
        grad[i] = g[i] * (one - t * t)


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _elu(x, out, alpha_scale, scale, input_scale, zero):
    for i in prange(x.size):
        v = x[i]
        out[i] = v * scale if v > zero else alpha_scale * vexpm1(v * input_scale)  # NaN: expm1's NaN


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _elu_backward(g, x, grad, slope, scale, input_scale, zero):
    for i in prange(x.size):
        v = x[i]
        grad[i] = g[i] * scale if v > zero else g[i] * (slope * vexp(v * input_scale))


@by_size()
def _leaky_relu(x, out, slope, zero):
    for i in prange(x.size):
        v = x[i]
        out[i] = v if v > zero else v * slope  # NaN takes the product and stays NaN


@by_size()
def _leaky_relu_backward(g, x, grad, slope, zero):
    for i in prange(x.size):
        grad[i] = g[i] if x[i] > zero else g[i] * slope


@by_size()
def _clamp(x, out, lo, hi):
    for i in prange(x.size):
        v = x[i]
        v = lo if v < lo else v
        out[i] = hi if v > hi else v  # NaN fails both tests and stays NaN; hi where lo > hi (PyTorch's)


@by_size()
def _clamp_backward(g, x, grad, lo, hi, zero):
    for i in prange(x.size):
        v = x[i]
        grad[i] = g[i] if (v >= lo) & (v <= hi) else zero


@by_size()
def _hardtanh_backward(g, x, grad, lo, hi, zero):
    for i in prange(x.size):
        v = x[i]
        grad[i] = zero if (v <= lo) | (v >= hi) else g[i]


@by_size(fastmath={"contract"})
def _hardsigmoid(x, out, three, six, zero):
    for i in prange(x.size):
        t = x[i] + three
        t = zero if t < zero else (six if t > six else t)
        out[i] = t / six


@by_size(fastmath={"contract"})
def _hardsigmoid_backward(g, x, grad, three, sixth, zero):
    for i in prange(x.size):
        v = x[i]
        grad[i] = g[i] * sixth if (v > -three) & (v < three) else zero


@by_size(fastmath={"contract"})
def _hardswish(x, out, three, six, zero):
    for i in prange(x.size):
        v = x[i]
        t = v + three
        t = zero if t < zero else (six if t > six else t)
        out[i] = v * t / six  # -inf * 0 is NaN, as PyTorch's


@by_size(fastmath={"contract"})
def _hardswish_backward(g, x, grad, three, half, zero):
    for i in prange(x.size):
        v = x[i]
        grad[i] = zero if v <= -three else (g[i] * (v / three + half) if v < three else g[i])


def _float_input(x):
    """x as a contiguous float32/float64 array for the loops (float16 and others in float32, as PyTorch
    computes them)."""
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return np.ascontiguousarray(x).reshape(x.shape)  # (ascontiguousarray makes a 0-d array 1-d)




def _unary(loop, x, *scalars):
    """loop(x, out, *scalars in x's dtype) over x as a float32/float64 array: a new array of x's dtype."""
    a = x if _loopable(x) else _float_input(x)
    out = np.empty(a.shape, a.dtype)
    loop(a.reshape(-1), out.reshape(-1), *_in_dtype(a.dtype, scalars))
    return out if a is x else out.astype(x.dtype, copy=False)


def _gradient(loop, grad_output, x, *scalars):
    """loop(g, x, grad, *scalars in x's dtype): the input gradient, of x's dtype."""
    if _loopable(x, grad_output) and grad_output.shape == x.shape:
        a, g = x, grad_output
    else:
        a = _float_input(x)
        g = np.ascontiguousarray(grad_output, dtype=a.dtype).reshape(a.shape)
    grad = np.empty(a.shape, a.dtype)
    loop(g.reshape(-1), a.reshape(-1), grad.reshape(-1), *_in_dtype(a.dtype, scalars))
    return grad if a is x else grad.astype(x.dtype, copy=False)


def _in_dtype(dtype, numbers):
    """The numbers as scalars of a loop's dtype (the loops' int constants ready-made; floats converted)."""
    ready = _CONSTANTS[dtype]
    return [ready[c] if type(c) is int and c in ready else dtype.type(c) for c in numbers]


def sigmoid(x):
    """1 / (1 + exp(-x)) elementwise, without overflow (a new array of x's shape and dtype)."""
    return _unary(_sigmoid, x, 1)


def silu(x):
    """x * sigmoid(x): a new array of x's shape and dtype."""
    return _unary(_silu, x, 1)


def silu_backward(grad_output, x):
    """SiLU's input gradient from its input: grad_output * s * (1 + x * (1 - s)), s = sigmoid(x), one pass."""
    return _gradient(_silu_backward, grad_output, x, 1)


def sigmoid_backward(grad_output, out):
    """sigmoid's input gradient from its output: grad_output * out * (1 - out), one pass."""
    if not _loopable(grad_output, out):
        return grad_output * out * (1 - out)
    grad = np.empty(grad_output.shape, grad_output.dtype)
    _sigmoid_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), _CONSTANTS[grad.dtype][1])
    return grad


def tanh_backward(grad_output, out):
    """tanh's input gradient from its output: grad_output * (1 - out^2), one pass."""
    if not _loopable(grad_output, out):
        return grad_output * (1 - out * out)
    grad = np.empty(grad_output.shape, grad_output.dtype)
    _tanh_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), _CONSTANTS[grad.dtype][1])
    return grad


def elu(x, alpha, scale, input_scale):
    """scale * x where x > 0, else alpha * scale * expm1(x * input_scale) (elu, selu, celu)."""
    if x.dtype == np.float64:
        return where(x > 0, x * scale, np.expm1(np.minimum(x, 0) * input_scale) * (alpha * scale))
    return _unary(_elu, x, alpha * scale, scale, input_scale, 0)


def elu_backward(grad_output, x, alpha, scale, input_scale):
    """ELU's input gradient from its input: grad_output * scale where x > 0, else
    grad_output * alpha * scale * input_scale * exp(x * input_scale) (from the input, not the output: out +
    alpha * scale cancels to 0 in float32 from x = -17, where the gradient is still 4e-8)."""
    slope = alpha * scale * input_scale
    if x.dtype == np.float64:
        negative = grad_output * (slope * np.exp(np.minimum(x, 0) * input_scale))
        return where(x > 0, grad_output * scale, negative)
    return _gradient(_elu_backward, grad_output, x, slope, scale, input_scale, 0)


def leaky_relu(x, negative_slope):
    """x where x > 0, else x * negative_slope."""
    return _unary(_leaky_relu, x, negative_slope, 0)


def leaky_relu_backward(grad_output, x, negative_slope):
    """leaky_relu's input gradient from its input: grad_output where x > 0, else grad_output * slope."""
    return _gradient(_leaky_relu_backward, grad_output, x, negative_slope, 0)


def hardtanh(x, min_val, max_val):
    """x clamped to [min_val, max_val], NaN kept (relu6: 0, 6)."""
    return _unary(_clamp, x, min_val, max_val)


def hardtanh_backward(grad_output, x, min_val, max_val):
    """hardtanh's input gradient from its input: 0 where x <= min_val or x >= max_val, else grad_output."""
    return _gradient(_hardtanh_backward, grad_output, x, min_val, max_val, 0)


def hardsigmoid(x):
    """min(max(x + 3, 0), 6) / 6."""
    return _unary(_hardsigmoid, x, 3, 6, 0)


def hardsigmoid_backward(grad_output, x):
    """grad_output * (1/6) where -3 < x < 3, else 0 (PyTorch's float32 numbers to the bit)."""
    return _gradient(_hardsigmoid_backward, grad_output, x, 3, 1 / 6, 0)


def hardswish(x):
    """x * min(max(x + 3, 0), 6) / 6."""
    return _unary(_hardswish, x, 3, 6, 0)


def hardswish_backward(grad_output, x):
    """0 for x <= -3, grad_output * (x / 3 + 1/2) for x < 3, grad_output above (and for NaN)."""
    return _gradient(_hardswish_backward, grad_output, x, 3, 0.5, 0)


CLAMP_LOOP_FROM = 1 << 13  # elements; below, NumPy's maximum and minimum cost less than the forward loop


def _number_bounds(x, lo, hi):
    """Whether clamp's loops can run: a float32/float64 array and bounds that are None or Python numbers."""
    return (x.dtype in (np.float32, np.float64) and (lo is None or type(lo) is float or type(lo) is int)
            and (hi is None or type(hi) is float or type(hi) is int))


def clamp(x, min_val, max_val):
    """x clamped to [min_val, max_val] with NumPy's type rules (either bound may be None, a number or an
    array that broadcasts), NaN kept, max_val where min_val > max_val. One pass for a large float array and
    number bounds; NumPy's maximum and minimum otherwise."""
    if x.size < CLAMP_LOOP_FROM or not _number_bounds(x, min_val, max_val):
        out = x if min_val is None else np.maximum(x, min_val)
        out = out if max_val is None else np.minimum(out, max_val)
        return x.copy() if out is x else out
    return _unary(_clamp, x, -np.inf if min_val is None else min_val, np.inf if max_val is None else max_val)


def clamp_backward(grad_output, x, min_val, max_val):
    """clamp's gradient for x (of the broadcast shape): grad_output where min_val <= x <= max_val, else 0
    (also where x is NaN, or min_val > max_val)."""
    if not _number_bounds(x, min_val, max_val) or grad_output.shape != x.shape:
        keep = True if min_val is None else x >= min_val
        keep = keep if max_val is None else keep & (x <= max_val)
        return where(keep, grad_output, grad_output.dtype.type(0))
    lo, hi = -np.inf if min_val is None else min_val, np.inf if max_val is None else max_val
    return _gradient(_clamp_backward, grad_output, x, lo, hi, 0)
