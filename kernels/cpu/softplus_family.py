"""softplus, logsigmoid and Mish on the CPU, forward and backward: one Numba pass each in float32.

All three are log(1 + exp(.)) at heart. NumPy's float32 log1p is a scalar loop (kernels/cpu/_log.py), so
the NumPy formulas (max(x, 0) + log1p(exp(-|x|)) and the like, five passes) cost 1.32 ms for softplus on
301,056 elements against PyTorch's 0.45 (examples/benchmark_elementwise.py). These loops use
kernels.cpu._log's vlog1p (vlog1p_unit: its form for arguments in [0, 1]) and kernels.cpu._exp's vexp, and
run on two threads from 2**15 elements (``by_size(cost=4)``). float64 stays on NumPy's formulas (vexp's
float64 polynomial does not vectorise).

softplus(x) = log1p(exp(beta x)) / beta, x itself where beta x > threshold (PyTorch's linear region); its
gradient is sigmoid(beta x), 1 in the linear region. logsigmoid(x) = min(x, 0) - log1p(exp(-|x|)), its
gradient sigmoid(-x) = 1 / (1 + exp(x)). Mish(x) = x tanh(softplus(x)) needs no log: with n = exp(x),
tanh(log(1 + n)) = n (n + 2) / (n (n + 2) + 2), no cancellation for any x (n is clamped at exp(20), where
that ratio is 1 in float32, so that n (n + 2) cannot overflow); its gradient is
t + x (1 - t^2) sigmoid(x), sigmoid(x) = n / (1 + n).
"""
import numpy as np
from numba import prange

from kernels.cpu._exp import vexp
from kernels.cpu._log import vlog1p_unit
from kernels.cpu._serial import by_size
from kernels.cpu.activation import _gradient, _unary
from kernels.cpu.select import where

__all__ = ["log_sigmoid", "log_sigmoid_backward", "mish", "mish_backward", "softplus", "softplus_backward"]

_OPTIONS = {"cost": 4, "fastmath": {"contract"}, "error_model": "numpy"}  # numpy: divisions vectorise


@by_size(**_OPTIONS)
def _softplus(x, out, beta, threshold, zero):
    for i in prange(x.size):
        v = x[i]
        b = v * beta
        soft = ((b if b > zero else zero) + vlog1p_unit(vexp(-abs(b)))) / beta
        out[i] = v if b > threshold else soft  # NaN: soft, NaN


@by_size(**_OPTIONS)
def _softplus_backward(g, x, grad, beta, threshold, one):
    for i in prange(x.size):
        b = x[i] * beta
        grad[i] = g[i] if b > threshold else g[i] * (one / (one + vexp(-b)))


@by_size(**_OPTIONS)
def _log_sigmoid(x, out, zero):
    for i in prange(x.size):
        v = x[i]
        out[i] = (v if v < zero else zero) - vlog1p_unit(vexp(-abs(v)))  # NaN: NaN - NaN


@by_size(**_OPTIONS)
def _log_sigmoid_backward(g, x, grad, one):
    for i in prange(x.size):
        grad[i] = g[i] / (one + vexp(x[i]))


@by_size(**_OPTIONS)
def _mish(x, out, twenty, two):
    for i in prange(x.size):
        v = x[i]
        n = vexp(twenty if v > twenty else v)  # NaN stays NaN
        p = n * (n + two)
        out[i] = v * (p / (p + two))


@by_size(**_OPTIONS)
def _mish_backward(g, x, grad, twenty, one, two):
    for i in prange(x.size):
        v = x[i]
        n = vexp(twenty if v > twenty else v)
        p = n * (n + two)
        t = p / (p + two)
        grad[i] = g[i] * (t + v * (one - t * t) * (n / (one + n)))


def _numpy_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-abs(x)))


def _numpy_sigmoid(x):
    e = np.exp(-abs(x))
    return where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x, beta, threshold):
    """log(1 + exp(beta x)) / beta, x where beta x > threshold."""
    if x.dtype == np.float64:
        bx = x * beta
        return where(bx > threshold, x, _numpy_softplus(bx) / beta)
    return _unary(_softplus, x, beta, threshold, 0)


def softplus_backward(grad_output, x, beta, threshold):
    """softplus's input gradient from its input: grad_output * sigmoid(beta x), grad_output where
    beta x > threshold."""
    if x.dtype == np.float64:
        bx = x * beta
        return where(bx > threshold, grad_output, grad_output * _numpy_sigmoid(bx))
    return _gradient(_softplus_backward, grad_output, x, beta, threshold, 1)


def log_sigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), without overflow."""
    if x.dtype == np.float64:
        return np.minimum(x, 0) - np.log1p(np.exp(-abs(x)))
    return _unary(_log_sigmoid, x, 0)


def log_sigmoid_backward(grad_output, x):
    """logsigmoid's input gradient from its input: grad_output * sigmoid(-x)."""
    if x.dtype == np.float64:
        return grad_output * _numpy_sigmoid(-x)
    return _gradient(_log_sigmoid_backward, grad_output, x, 1)


def mish(x):
    """x * tanh(softplus(x))."""
    if x.dtype == np.float64:
        with np.errstate(invalid="ignore"):  # -inf * 0: NaN, as PyTorch's
            return x * np.tanh(_numpy_softplus(x))
    return _unary(_mish, x, 20, 2)


def mish_backward(grad_output, x):
    """Mish's input gradient from its input: grad_output * (t + x (1 - t^2) sigmoid(x)),
    t = tanh(softplus(x))."""
    if x.dtype == np.float64:
        t = np.tanh(_numpy_softplus(x))
        with np.errstate(invalid="ignore"):
            return grad_output * (t + x * (1 - t * t) * _numpy_sigmoid(x))
    return _gradient(_mish_backward, grad_output, x, 20, 1, 2)
