"""Activation functions (torch.nn.functional): PyTorch's signatures and argument checks over the
fused Ops in gpunet.ops.activation; softmax, softmin and log_softmax are gpunet.ops.softmax's.
"""
from gpunet.nn.functional._common import check_float, check_tensor, inplace_apply
from gpunet.ops import elementwise as _E
from gpunet.ops import indexing as _S
from gpunet.ops.activation import (Elu, Gelu, Hardsigmoid, Hardswish, Hardtanh, LeakyRelu, LogSigmoid, Mish,
                                   Silu, Softplus, Threshold)
from gpunet.ops.softmax import log_softmax, softmax, softmin
from gpunet.tensor import _dim

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
           "silu", "mish", "sigmoid", "tanh", "softplus", "softsign", "hardtanh", "hardtanh_", "hardsigmoid",
           "hardswish", "logsigmoid", "threshold", "threshold_", "softmax", "softmin", "log_softmax", "glu",
           "prelu", "tanhshrink", "softshrink", "hardshrink"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _unary(op_cls, input, name, inplace, *consts):
    check_float(input, name)
    if inplace:
        return inplace_apply(lambda t, *c: op_cls.apply(t, *c), input, name + "_", *consts)
    return op_cls.apply(input, *consts)


def relu(input, inplace=False):
    """max(x, 0)."""
    check_tensor(input, "input", "relu")
    if inplace:
        return input.relu_()
    return _E.relu(input)


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    return _unary(LeakyRelu, input, "leaky_relu", inplace, float(negative_slope))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _unary(Elu, input, "elu", inplace, float(alpha), 1.0, 1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants."""
    return _unary(Elu, input, "selu", inplace, _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: ZeroDivisionError: alpha cannot be 0 for CELU")
    return _unary(Elu, input, "celu", inplace, float(alpha), 1.0, 1.0 / alpha)


def gelu(input, approximate="none"):
    """x * Phi(x) (erf form), or the tanh approximation with approximate='tanh'."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return _unary(Gelu, input, "gelu", False, approximate)


def silu(input, inplace=False):
    """x * sigmoid(x)."""
    return _unary(Silu, input, "silu", inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _unary(Mish, input, "mish", inplace)


def sigmoid(input):
    return _E.sigmoid(input)


def tanh(input):
    return _E.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    return _unary(Softplus, input, "softplus", False, beta, threshold)


def softsign(input):
    """x / (1 + |x|)."""
    check_float(input, "softsign")
    return input / (input.abs() + 1)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); the gradient is zero at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _unary(Hardtanh, input, "hardtanh", inplace, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    return _unary(Hardsigmoid, input, "hardsigmoid", inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _unary(Hardswish, input, "hardswish", inplace)


def logsigmoid(input):
    """log(sigmoid(x)), computed without overflow."""
    return _unary(LogSigmoid, input, "log_sigmoid", False)


def threshold(input, threshold, value, inplace=False):
    """x if x > threshold else value."""
    return _unary(Threshold, input, "threshold", inplace, threshold, value)


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, True)


_threshold = threshold  # threshold_'s parameter shadows the function's name


def tanhshrink(input):
    return input - _E.tanh(input)


def softshrink(input, lambd=0.5):
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    check_float(input, "softshrink")
    return input - input.clamp(-lambd, lambd)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    check_float(input, "hardshrink")
    return input * (input.abs() > lambd).to(input.dtype)


def glu(input, dim=-1):
    """a * sigmoid(b), where a and b are the two halves of input along dim."""
    check_float(input, "glu")
    if input._data.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _dim(dim, input._data.ndim, "glu")
    n = input._data.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a, b = input.split(n // 2, d)
    return a * _E.sigmoid(b)


def prelu(input, weight):
    """x if x > 0 else weight * x; weight has 1 or C (= input.shape[1]) elements."""
    check_float(input, "prelu")
    check_tensor(weight, "weight", "prelu")
    n = weight.numel()
    if n != 1:
        nd = input._data.ndim
        channels = input._data.shape[1] if nd >= 2 else input._data.shape[0] if nd else 1
        if n != channels:
            raise RuntimeError("Mismatch of parameter numbers and input channel size. Found parameter "
                               f"numbers = {n} and channel size = {channels}.")
        if input._data.ndim >= 2:
            weight = weight.reshape((1, n) + (1,) * (input._data.ndim - 2))
    elif weight._data.ndim:
        weight = weight.reshape(())
    return _S.where(input > 0, input, weight * input)
