"""Unary elementwise math: exp/log family, trig, tanh/sigmoid/relu, erf, clamp, rounding."""
import math

import numpy as np

from gpunet.amp import _policy as _amp
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.tensor import Tensor

__all__ = [
    "Abs", "Ceil", "Clamp", "Cos", "Erf", "Exp", "Expm1", "Floor", "Log", "Log10", "Log1p", "Log2",
    "Neg", "Reciprocal", "Relu", "Round", "Rsqrt", "Sigmoid", "Sign", "Sin", "Sqrt", "Tan", "Tanh",
    "Trunc", "abs", "absolute", "ceil", "clamp", "clamp_max", "clamp_min", "clip", "cos", "deg2rad", "erf",
    "exp", "exp2", "expm1", "fix", "floor", "log", "log10", "log1p", "log2", "logit", "neg", "negative",
    "rad2deg", "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "sin", "sqrt", "square", "tan",
    "tanh", "trunc",
]


def _xp(ctx):
    return ctx.device.xp


class Neg(Op):
    _backward_name = "NegBackward0"

    @staticmethod
    def forward(ctx, a):
        return ctx.device.K.neg(a)

    @staticmethod
    def backward(ctx, g):
        return ctx.device.K.neg(g)

    @staticmethod
    def backward_graph(ctx, g):
        return -g


class Abs(Op):
    _backward_name = "AbsBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.device.K.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.mul_sign(g, a)  # 0 at 0 and at NaN, as PyTorch's

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = ctx.saved_tensors
        return g * const(ctx, (a > 0).astype(g._data.dtype) - (a < 0))


class Exp(Op):
    _backward_name = "ExpBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.device.K.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return ctx.device.K.mul(g, out)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g * out


class Expm1(Op):
    _backward_name = "Expm1Backward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out + 1)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g * (out + 1)


class Log(Op):
    _backward_name = "LogBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.device.K.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.div(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g / a


class Log2(Op):
    _backward_name = "Log2Backward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).log2(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (a * a.dtype.type(math.log(2.0)))

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g / (a * math.log(2.0))


class Log10(Op):
    _backward_name = "Log10Backward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).log10(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (a * a.dtype.type(math.log(10.0)))

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g / (a * math.log(10.0))


class Log1p(Op):
    _backward_name = "Log1PBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).log1p(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (1 + a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g / (1 + a)


class Sqrt(Op):
    _backward_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.device.K.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        K = ctx.device.K
        return K.div(g, K.mul(out, 2))

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g / (2 * out)


class Rsqrt(Op):
    _backward_name = "RsqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.device.K.rsqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -0.5 * g * out * out * out

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return -0.5 * g * out * out * out


class Reciprocal(Op):
    _backward_name = "ReciprocalBackward0"

    @staticmethod
    def forward(ctx, a):
        out = 1 / a
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * out * out

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return -g * out * out


class Sin(Op):
    _backward_name = "SinBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _xp(ctx).cos(a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g * a.cos()


class Cos(Op):
    _backward_name = "CosBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * _xp(ctx).sin(a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return -g * a.sin()


class Tan(Op):
    _backward_name = "TanBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 + out * out)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g * (1 + out * out)


class Tanh(Op):
    _backward_name = "TanhBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return ctx.device.K.tanh_backward(g, out)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g * (1 - out * out)


class Sigmoid(Op):
    _backward_name = "SigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.device.K.sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return ctx.device.K.sigmoid_backward(g, out)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g * out * (1 - out)


class Relu(Op):
    _backward_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.device.K.relu(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return ctx.device.K.relu_backward(g, out)

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = ctx.saved_tensors
        return g * const(ctx, ~(out <= 0), g._data.dtype)  # the mask is constant; NaN passes, as backward's


class Erf(Op):
    _backward_name = "ErfBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.device.K.erf(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * (2 / math.sqrt(math.pi)) * _xp(ctx).exp(-a * a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g * (2 / math.sqrt(math.pi)) * (-a * a).exp()


class Clamp(Op):
    _backward_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a, lo, hi)
        return ctx.device.K.clamp(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        na, nlo, nhi = ctx.needs_input_grad
        # tensor bounds may broadcast the output
        ga = unbroadcast(ctx.device.K.clamp_backward(g, a, lo, hi), a.shape) if na else None
        # where lo > hi the output is hi, so the grad goes to hi (as PyTorch)
        glo = unbroadcast(g * ((a < lo) & (lo < hi) if hi is not None else a < lo), lo.shape) if nlo else None
        ghi = unbroadcast(g * ((a > hi) | (lo > hi) if lo is not None else a > hi), hi.shape) if nhi else None
        return ga, glo, ghi

    @staticmethod
    def backward_graph(ctx, g):
        a, lo, hi = ctx.saved_tensors  # piecewise linear: the masks are constants
        dtype = g._data.dtype
        keep = True
        if lo is not None:
            keep = a >= lo
        if hi is not None:
            keep = keep & (a <= hi)
        na, nlo, nhi = ctx.needs_input_grad
        ga = unbroadcast_t(g * const(ctx, keep, dtype), a.shape) if na else None
        glo = ghi = None
        if nlo:
            to_lo = (a < lo) & (lo < hi) if hi is not None else a < lo
            glo = unbroadcast_t(g * const(ctx, to_lo, dtype), lo.shape)
        if nhi:
            to_hi = (a > hi) | (lo > hi) if lo is not None else a > hi
            ghi = unbroadcast_t(g * const(ctx, to_hi, dtype), hi.shape)
        return ga, glo, ghi


def _zero_grad_unary(name, np_name):
    """Piecewise-constant functions (floor, sign, ...): gradient zero almost everywhere."""
    class _Op(Op):
        _backward_name = f"{name.capitalize()}Backward0"

        @staticmethod
        def forward(ctx, a):
            return getattr(_xp(ctx), np_name)(a)

        @staticmethod
        def backward(ctx, g):
            return g * 0

        @staticmethod
        def backward_graph(ctx, g):
            return g * 0
    _Op.__name__ = name.capitalize()
    return _Op


Sign = _zero_grad_unary("sign", "sign")
Floor = _zero_grad_unary("floor", "floor")
Ceil = _zero_grad_unary("ceil", "ceil")
Trunc = _zero_grad_unary("trunc", "trunc")
Round = _zero_grad_unary("round", "round")


def _unary(op_cls, name, float_only=True):
    def fn(input):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        if float_only and input._data.dtype.kind != "f":
            input = input.to(_dt.get_default_dtype())
        if _amp.state.on:  # autocast
            (input,) = _amp.cast(name, input)
        return op_cls.apply(input)
    fn.__name__ = name
    return fn


class Logit(Op):
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] first when eps is given (the gradient is 0 outside):
    inf at 1, -inf at 0 and NaN outside [0, 1] without NumPy's warnings, as PyTorch's."""
    _backward_name = "LogitBackward0"

    @staticmethod
    def forward(ctx, a, eps):
        xp = ctx.device.xp
        ctx.eps = eps
        ctx.save_for_backward(a)
        p = a if eps is None else xp.clip(a, eps, 1 - eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(p / (1 - p)).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = g / (a * (1 - a))
        if ctx.eps is not None:
            grad = ctx.device.xp.where((a < ctx.eps) | (a > 1 - ctx.eps), 0, grad).astype(grad.dtype)
        return grad, None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        grad = g / (a * (1 - a))
        if ctx.eps is not None:
            grad = grad * const(ctx, ~((a._data < ctx.eps) | (a._data > 1 - ctx.eps)), g._data.dtype)
        return grad, None


def logit(input, eps=None):
    """log(p / (1 - p)) (see Logit); integer inputs in the default float dtype."""
    if not input.is_floating_point():
        input = input.to(_dt.get_default_dtype())
    return Logit.apply(input, eps)


def _scaled(name, factor):
    def fn(input):
        if not input.is_floating_point():
            input = input.to(_dt.get_default_dtype())
        return input * factor
    fn.__name__ = name
    return fn


deg2rad = _scaled("deg2rad", math.pi / 180)
rad2deg = _scaled("rad2deg", 180 / math.pi)


def exp2(input):
    """2 ** input (integer inputs in the default float dtype, as PyTorch's)."""
    if not input.is_floating_point():
        input = input.to(_dt.get_default_dtype())
    return 2.0 ** input


neg = negative = _unary(Neg, "neg", float_only=False)
abs = absolute = _unary(Abs, "abs", float_only=False)
exp = _unary(Exp, "exp")
expm1 = _unary(Expm1, "expm1")
log = _unary(Log, "log")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
log1p = _unary(Log1p, "log1p")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
reciprocal = _unary(Reciprocal, "reciprocal")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
relu = _unary(Relu, "relu", float_only=False)
erf = _unary(Erf, "erf")
sign = _unary(Sign, "sign", float_only=False)
floor = _unary(Floor, "floor", float_only=False)
ceil = _unary(Ceil, "ceil", float_only=False)
trunc = fix = _unary(Trunc, "trunc", float_only=False)


def round(input, decimals=0):
    if decimals:
        scale = 10.0 ** decimals
        return Round.apply(input * scale) / scale
    return Round.apply(input)


def square(input):
    return input * input


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    lo = min._data.astype(input._data.dtype) if isinstance(min, Tensor) and not min.requires_grad else min
    hi = max._data.astype(input._data.dtype) if isinstance(max, Tensor) and not max.requires_grad else max
    if (isinstance(lo, float) and input._data.dtype.kind != "f"
            or isinstance(hi, float) and input._data.dtype.kind != "f"):
        input = input.to(_dt.get_default_dtype())
    return Clamp.apply(input, lo, hi)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)
