"""Activation functions (torch.nn.functional): each hot one is a single fused Op (forward + backward).

Softmax and log_softmax are one Op each and subtract the row maximum first, so logits of 1e4 stay
finite; log_softmax's backward is g - softmax * sum(g), never a division by a softmax.
"""
import math
import warnings

import numpy as _np

from gpunet.autograd.function import Op
from gpunet.nn.functional._common import check_float, check_tensor, inplace_apply
from gpunet.ops import elementwise as _E
from gpunet.ops import indexing as _S
from gpunet.tensor import _dim

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
           "silu", "mish", "sigmoid", "tanh", "softplus", "softsign", "hardtanh", "hardtanh_", "hardsigmoid",
           "hardswish", "logsigmoid", "threshold", "threshold_", "softmax", "softmin", "log_softmax", "glu",
           "prelu", "tanhshrink", "softshrink", "hardshrink"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(xp, a):
    e = xp.exp(-abs(a))  # split by sign so exp never overflows
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


# ---- fused Ops ---------------------------------------------------------------------------------------
class LeakyRelu(Op):
    _backward_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, a, slope):
        pos = a > 0
        ctx.save_for_backward(pos)
        ctx.slope = slope
        return ctx.device.xp.where(pos, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        (pos,) = ctx.saved_tensors
        return ctx.device.xp.where(pos, g, g * ctx.slope), None


class Elu(Op):
    """scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)): elu, selu and celu."""
    _backward_name = "EluBackward0"

    @staticmethod
    def forward(ctx, a, alpha, scale, input_scale):
        xp = ctx.device.xp
        pos = a > 0
        neg = xp.expm1(xp.minimum(a, 0) * input_scale) * (alpha * scale)
        ctx.save_for_backward(pos, neg)
        ctx.consts = (alpha, scale, input_scale)
        return xp.where(pos, a * scale, neg)

    @staticmethod
    def backward(ctx, g):
        pos, neg = ctx.saved_tensors
        alpha, scale, input_scale = ctx.consts
        # d/dx alpha*scale*(exp(x*s)-1) = s * (neg + alpha*scale)
        gx = ctx.device.xp.where(pos, g * scale, g * ((neg + alpha * scale) * input_scale))
        return gx, None, None, None


class Gelu(Op):
    _backward_name = "GeluBackward0"

    @staticmethod
    def forward(ctx, a, approximate):
        xp = ctx.device.xp
        if approximate == "tanh":
            t = xp.tanh((a + 0.044715 * a * a * a) * _SQRT_2_OVER_PI)
            out = 0.5 * a * (1 + t)
            if ctx.needs_input_grad[0]:
                ctx.save_for_backward(0.5 * (1 + t) + 0.5 * a * (1 - t * t) * (_SQRT_2_OVER_PI * (
                    1 + 3 * 0.044715 * a * a)))
            return out
        cdf = 0.5 * (1 + ctx.device.K.erf(a * _INV_SQRT_2))
        if ctx.needs_input_grad[0]:  # the derivative reuses this erf: one erf call per forward + backward
            ctx.save_for_backward(cdf + a * xp.exp(-0.5 * a * a) * _INV_SQRT_2PI)
        return a * cdf

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return g * d, None


class Silu(Op):
    _backward_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, a):
        s = _sigmoid(ctx.device.xp, a)
        if ctx.needs_input_grad[0]:  # derivative formed now: the input may be overwritten (inplace=True)
            ctx.save_for_backward(s * (1 + a * (1 - s)))
        return a * s

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return g * d


class Mish(Op):
    _backward_name = "MishBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = ctx.device.xp
        t = xp.tanh(xp.logaddexp(0, a))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(t + a * (1 - t * t) * _sigmoid(xp, a))
        return a * t

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return g * d


class Softplus(Op):
    _backward_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, a, beta, threshold):
        xp = ctx.device.xp
        ba = a * beta
        linear = ba > threshold  # PyTorch reverts to the identity above the threshold
        ctx.save_for_backward(ba, linear)
        return xp.where(linear, a, xp.logaddexp(0, ba) / beta)

    @staticmethod
    def backward(ctx, g):
        ba, linear = ctx.saved_tensors
        xp = ctx.device.xp
        return xp.where(linear, g, g * _sigmoid(xp, ba)), None, None


class LogSigmoid(Op):
    _backward_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = ctx.device.xp
        ctx.save_for_backward(a)
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-abs(a)))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _sigmoid(ctx.device.xp, -a)


class Hardtanh(Op):
    _backward_name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward((a > lo) & (a < hi))  # zero gradient at the corners, as PyTorch
        return ctx.device.xp.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside, None, None


class Hardsigmoid(Op):
    _backward_name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward((a > -3) & (a < 3))
        return ctx.device.xp.clip(a + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside / 6


class Hardswish(Op):
    _backward_name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = ctx.device.xp
        if ctx.needs_input_grad[0]:
            d = xp.where(a <= -3, 0, xp.where(a < 3, a / 3 + 0.5, 1))
            ctx.save_for_backward(d.astype(a.dtype, copy=False))
        return a * xp.clip(a + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return g * d


class Threshold(Op):
    _backward_name = "ThresholdBackward0"

    @staticmethod
    def forward(ctx, a, threshold, value):
        keep = a > threshold
        ctx.save_for_backward(keep)
        return ctx.device.xp.where(keep, a, a.dtype.type(value))

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return g * keep, None, None


class Softmax(Op):
    _backward_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, dim):
        xp = ctx.device.xp
        with _np.errstate(invalid="ignore"):  # a fully -inf row gives nan, as in PyTorch
            e = xp.exp(a - a.max(axis=dim, keepdims=True))
            e /= e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(e)
        ctx.dim = dim
        return e

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        gy = g * y
        return gy - y * gy.sum(axis=ctx.dim, keepdims=True), None


class LogSoftmax(Op):
    _backward_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, dim):
        xp = ctx.device.xp
        with _np.errstate(invalid="ignore", divide="ignore"):
            shifted = a - a.max(axis=dim, keepdims=True)
            out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - ctx.device.xp.exp(out) * g.sum(axis=ctx.dim, keepdims=True), None


# ---- functions ---------------------------------------------------------------------------------------
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


def _softmax_dim(name, ndim, dim, stacklevel):
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                      "include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
        return 0 if ndim in (0, 1, 3) else 1
    return _dim(dim, ndim, name)


def _softmax_input(input, name, dtype):
    check_tensor(input, "input", name)
    if dtype is not None:
        input = input.to(dtype)
    check_float(input, name)
    return input


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along dim (the maximum is subtracted first)."""
    input = _softmax_input(input, "softmax", dtype)
    return Softmax.apply(input, _softmax_dim("softmax", input._data.ndim, dim, _stacklevel))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    input = _softmax_input(input, "softmin", dtype)
    return Softmax.apply(-input, _softmax_dim("softmin", input._data.ndim, dim, _stacklevel))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - max - log(sum(exp(x - max))) along dim."""
    input = _softmax_input(input, "log_softmax", dtype)
    return LogSoftmax.apply(input, _softmax_dim("log_softmax", input._data.ndim, dim, _stacklevel))


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
