"""Elementwise ops: arithmetic with broadcasting, unary math, activations' primitives, comparisons."""
import math

from gpunet.autograd.function import Op
from gpunet.ops._util import promote, shape_of, unbroadcast
from gpunet.tensor import Tensor, _make


def _xp(ctx):
    return ctx.device.xp


# ---- binary arithmetic ------------------------------------------------------------------------------
class Add(Op):
    _backward_name = "AddBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


class Sub(Op):
    _backward_name = "SubBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


class Mul(Op):
    _backward_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g * b, a.shape) if na else None, unbroadcast(g * a, b.shape) if nb else None)


class Div(Op):
    _backward_name = "DivBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = unbroadcast(g / b, a.shape) if na else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if nb else None
        return ga, gb


class Pow(Op):
    _backward_name = "PowBackward0"

    @staticmethod
    def forward(ctx, a, b):
        xp = _xp(ctx)
        out = xp.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        xp = _xp(ctx)
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # d/da a**b = b * a**(b-1); b == 0 gives 0 even where a == 0
            ga = unbroadcast(xp.where(b == 0, 0, g * b * xp.power(a, xp.where(b == 0, 1, b) - 1)).astype(g.dtype), a.shape)
        if nb:
            safe_log = xp.log(xp.where(a > 0, a, 1))
            gb = unbroadcast(xp.where(a > 0, g * out * safe_log, 0).astype(g.dtype), b.shape)
        return ga, gb


class Maximum(Op):
    _backward_name = "MaximumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _xp(ctx).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _minmax_backward(ctx, g, 1)


class Minimum(Op):
    _backward_name = "MinimumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _xp(ctx).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _minmax_backward(ctx, g, -1)


def _minmax_backward(ctx, g, sign):
    a, b = ctx.saved_tensors
    wins_a = (a > b) if sign > 0 else (a < b)
    tie = a == b
    share_a = (wins_a + 0.5 * tie).astype(g.dtype)  # ties split the gradient evenly, as PyTorch does
    na, nb = ctx.needs_input_grad
    return (unbroadcast(g * share_a, a.shape) if na else None,
            unbroadcast(g * (1 - share_a), b.shape) if nb else None)


def _binary(op_cls, name):
    def fn(input, other):
        a, b = promote(input, other, name)
        return op_cls.apply(a, b)
    fn.__name__ = name
    return fn


add_ = None  # defined in ops.inplace
_add = _binary(Add, "add")
_sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")
maximum = _binary(Maximum, "maximum")
minimum = _binary(Minimum, "minimum")
multiply = mul


def add(input, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return _add(input, other)


def sub(input, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return _sub(input, other)


subtract = sub


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def div(input, other, *, rounding_mode=None):
    a, b = promote(input, other, "div")
    if rounding_mode is None:
        a, b = _to_float(a), _to_float(b)
        return Div.apply(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return trunc(Div.apply(_to_float(a), _to_float(b))).to(_dtype_of(a, b))
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


divide = true_divide = div


def _dtype_of(a, b):
    return a.dtype if isinstance(a, Tensor) else b.dtype


def _to_float(x):
    """True division of integer tensors gives the default float dtype."""
    if isinstance(x, Tensor) and x._data.dtype.kind != "f":
        from gpunet import dtypes
        return x.to(dtypes.get_default_dtype())
    return x


def pow(input, exponent):
    if isinstance(exponent, (int, float)) and hasattr(exponent, "dtype"):
        exponent = exponent.item()  # a NumPy scalar is weak, like a Python number
    if isinstance(exponent, (int, float)) and isinstance(input, Tensor):
        if exponent == 1:
            return input * 1
        if input._data.dtype.kind in "iub":
            if isinstance(exponent, float):  # int tensor ** float -> default float dtype, as PyTorch
                from gpunet import dtypes
                input = input.to(dtypes.get_default_dtype())
            elif exponent < 0:
                raise RuntimeError("pow: Integers to negative integer powers are not allowed.")
        return PowScalar.apply(input, exponent)
    a, b = promote(input, exponent, "pow")
    return Pow.apply(a, b)


class PowScalar(Op):
    _backward_name = "PowBackward0"

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        if p == 2:
            return a * a
        if p == 0.5:
            return _xp(ctx).sqrt(a)
        return _xp(ctx).power(a, p) if a.dtype.kind == "f" else a ** p

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 2:
            return (g * 2 * a, None)
        return ((g * p * _xp(ctx).power(a, p - 1)).astype(g.dtype), None)


def floor_divide(input, other):
    a, b = promote(input, other, "floor_divide")
    return _nondiff(a, b, lambda x, y: x // y)


def remainder(input, other):
    a, b = promote(input, other, "remainder")
    if any(isinstance(t, Tensor) and t.requires_grad for t in (a, b)) and _dtype_of(a, b).is_floating_point:
        # x - floor(x / y) * y: grad 1 in x and -floor(x / y) in y, as PyTorch's remainder
        return a - (_detach(a) // _detach(b)) * b
    return _nondiff(a, b, lambda x, y: x % y)


def fmod(input, other):
    """C-style remainder: the result has the sign of the dividend (remainder() follows the divisor)."""
    a, b = promote(input, other, "fmod")
    if any(isinstance(t, Tensor) and t.requires_grad for t in (a, b)) and _dtype_of(a, b).is_floating_point:
        return a - trunc(_detach(a) / _detach(b)) * b  # grad 1 in x and -trunc(x / y) in y
    xp = (a if isinstance(a, Tensor) else b)._device.xp
    return _nondiff(a, b, xp.fmod)


def _detach(x):
    return x.detach() if isinstance(x, Tensor) else x


def _nondiff(a, b, fn):
    t = a if isinstance(a, Tensor) else b
    ad = a._data if isinstance(a, Tensor) else a
    bd = b._data if isinstance(b, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._device is not b._device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{a._device} and {b._device}!")
    return _make(fn(ad, bd), t._device)


# ---- unary math -------------------------------------------------------------------------------------
class Neg(Op):
    _backward_name = "NegBackward0"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Op):
    _backward_name = "AbsBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).abs(a)  # the builtin abs is shadowed by this module's abs

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _xp(ctx).sign(a)


class Exp(Op):
    _backward_name = "ExpBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
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


class Log(Op):
    _backward_name = "LogBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _xp(ctx).log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
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


class Sqrt(Op):
    _backward_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Rsqrt(Op):
    _backward_name = "RsqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        out = 1 / _xp(ctx).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
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
        return g * (1 - out * out)


class Sigmoid(Op):
    _backward_name = "SigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        xp = _xp(ctx)
        # split by sign so exp never overflows
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


class Relu(Op):
    _backward_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _xp(ctx).maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


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


class Clamp(Op):
    _backward_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, a, lo, hi):
        xp = _xp(ctx)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        if out is a:
            out = a.copy()
        ctx.save_for_backward(a, lo, hi)
        return out

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        keep = True
        if lo is not None:
            keep = a >= lo
        if hi is not None:
            keep = keep & (a <= hi)
        na, nlo, nhi = ctx.needs_input_grad
        ga = unbroadcast(g * keep, a.shape) if na else None  # tensor bounds may broadcast the output
        # where lo > hi the output is hi, so the grad goes to hi (as PyTorch)
        glo = unbroadcast(g * ((a < lo) & (lo < hi) if hi is not None else a < lo), lo.shape) if nlo else None
        ghi = unbroadcast(g * ((a > hi) | (lo > hi) if lo is not None else a > hi), hi.shape) if nhi else None
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
            from gpunet import dtypes
            input = input.to(dtypes.get_default_dtype())
        return op_cls.apply(input)
    fn.__name__ = name
    return fn


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
    if isinstance(lo, float) and input._data.dtype.kind != "f" or isinstance(hi, float) and input._data.dtype.kind != "f":
        from gpunet import dtypes
        input = input.to(dtypes.get_default_dtype())
    return Clamp.apply(input, lo, hi)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


# ---- comparisons and logic (not differentiable) -----------------------------------------------------
def _compare(name, fn):
    def compare(input, other):
        a, b = promote(input, other, name)
        return _nondiff(a, b, fn)
    compare.__name__ = name
    return compare


eq = _compare("eq", lambda a, b: a == b)
ne = not_equal = _compare("ne", lambda a, b: a != b)
lt = less = _compare("lt", lambda a, b: a < b)
le = less_equal = _compare("le", lambda a, b: a <= b)
gt = greater = _compare("gt", lambda a, b: a > b)
ge = greater_equal = _compare("ge", lambda a, b: a >= b)


def logical_and(input, other):
    return _nondiff(input, other, lambda a, b: (a != 0) & (b != 0))


def logical_or(input, other):
    return _nondiff(input, other, lambda a, b: (a != 0) | (b != 0))


def logical_xor(input, other):
    return _nondiff(input, other, lambda a, b: (a != 0) ^ (b != 0))


def logical_not(input):
    return _make(input._data == 0, input._device)


def bitwise_not(input):
    return _make(~input._data, input._device)


def isnan(input):
    return _make(input._device.xp.isnan(input._data), input._device)


def isinf(input):
    return _make(input._device.xp.isinf(input._data), input._device)


def isfinite(input):
    return _make(input._device.xp.isfinite(input._data), input._device)


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input._data == other._data).all())


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(input._device.xp.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return _make(input._device.xp.isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan),
                 input._device)


def lerp(input, end, weight):
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):
    return input + value * tensor1 / tensor2
