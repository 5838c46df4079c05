"""ReLU, sigmoid and SiLU on the CPU: one Numba pass each, over two threads from 2**17 elements (2**15 for
sigmoid and SiLU, whose exp costs more; kernels/cpu/_serial.py's ``by_size``).

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
"""
import numpy as np
from numba import prange

from kernels.cpu._exp import vexp
from kernels.cpu._serial import by_size

__all__ = ["relu", "relu_backward", "sigmoid", "sigmoid_backward", "silu", "silu_backward", "tanh_backward"]


@by_size()
def _relu(x, out, zero):
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v <= zero else v  # NaN stays NaN, as in PyTorch


@by_size()
def _relu_backward(g, out, grad, zero):
    for i in prange(g.size):
        grad[i] = g[i] if out[i] > zero else zero  # a where, not a product: inf * 0 would give NaN


def _loopable(*arrays):
    a = arrays[0]
    return a.dtype in (np.float32, np.float64) and all(
        b.dtype == a.dtype and b.flags.c_contiguous for b in arrays)


def relu(x):
    """max(x, 0) elementwise, NaN kept (a new array of x's shape and dtype)."""
    if not _loopable(x):
        return np.maximum(x, 0)
    out = np.empty_like(x)
    _relu(x.reshape(-1), out.reshape(-1), x.dtype.type(0))
    return out


def relu_backward(grad_output, out):
    """ReLU's input gradient from its output: grad_output where out > 0, else 0."""
    if not _loopable(grad_output, out):
        return np.where(out > 0, grad_output, grad_output.dtype.type(0))
    grad = np.empty_like(grad_output)
    _relu_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), grad.dtype.type(0))
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


def _float_input(x):
    """x as a contiguous float32/float64 array for the loops (float16 and others in float32, as PyTorch
    computes them)."""
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return np.ascontiguousarray(x).reshape(x.shape)  # (ascontiguousarray makes a 0-d array 1-d)


def sigmoid(x):
    """1 / (1 + exp(-x)) elementwise, without overflow (a new array of x's shape and dtype)."""
    a = _float_input(x)
    out = np.empty_like(a)
    _sigmoid(a.reshape(-1), out.reshape(-1), a.dtype.type(1))
    return out.astype(x.dtype, copy=False)


def silu(x):
    """x * sigmoid(x): a new array of x's shape and dtype."""
    a = _float_input(x)
    out = np.empty_like(a)
    _silu(a.reshape(-1), out.reshape(-1), a.dtype.type(1))
    return out.astype(x.dtype, copy=False)


def silu_backward(grad_output, x):
    """SiLU's input gradient from its input: grad_output * s * (1 + x * (1 - s)), s = sigmoid(x), one pass."""
    a = _float_input(x)
    g = np.ascontiguousarray(grad_output, dtype=a.dtype).reshape(a.shape)
    grad = np.empty_like(a)
    _silu_backward(g.reshape(-1), a.reshape(-1), grad.reshape(-1), a.dtype.type(1))
    return grad.astype(x.dtype, copy=False)


def sigmoid_backward(grad_output, out):
    """sigmoid's input gradient from its output: grad_output * out * (1 - out), one pass."""
    if not _loopable(grad_output, out):
        return grad_output * out * (1 - out)
    grad = np.empty_like(grad_output)
    _sigmoid_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), grad.dtype.type(1))
    return grad


def tanh_backward(grad_output, out):
    """tanh's input gradient from its output: grad_output * (1 - out^2), one pass."""
    if not _loopable(grad_output, out):
        return grad_output * (1 - out * out)
    grad = np.empty_like(grad_output)
    _tanh_backward(grad_output.reshape(-1), out.reshape(-1), grad.reshape(-1), grad.dtype.type(1))
    return grad
