"""Elementwise binary ops: arithmetic with broadcasting and PyTorch promotion, comparisons and logic.

Unary math lives in ops/unary.py and is re-exported here, so `elementwise` names every elementwise op.
"""
from gpunet.amp import _policy as _amp
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import promote, unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.unary import *  # noqa: F401,F403  (the re-export)
from gpunet.ops.unary import trunc
from gpunet.tensor import Tensor, _make


def _xp(ctx):
    return ctx.device.xp


# ---- binary arithmetic ------------------------------------------------------------------------------
class Add(Op):
    _backward_name = "AddBackward0"

    @staticmethod
    def forward(ctx, a, b):
        sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)  # b may be a number
        ctx.shapes = None if sa == sb else (sa, sb)  # equal shapes: nothing to reduce, no tuples to keep
        return ctx.device.K.add(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes or (None, None)
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        sa, sb = ctx.shapes or (None, None)
        na, nb = ctx.needs_input_grad
        return (unbroadcast_t(g, sa) if na else None, unbroadcast_t(g, sb) if nb else None)


class Sub(Op):
    _backward_name = "SubBackward0"

    @staticmethod
    def forward(ctx, a, b):
        sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)  # b may be a number
        ctx.shapes = None if sa == sb else (sa, sb)  # equal shapes: nothing to reduce, no tuples to keep
        return ctx.device.K.sub(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes or (None, None)
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(ctx.device.K.neg(g), sb) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        sa, sb = ctx.shapes or (None, None)
        na, nb = ctx.needs_input_grad
        return (unbroadcast_t(g, sa) if na else None, unbroadcast_t(-g, sb) if nb else None)


class Mul(Op):
    _backward_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.device.K.mul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        mul = ctx.device.K.mul
        return (unbroadcast(mul(g, b), a.shape) if na else None,
                unbroadcast(mul(g, a), b.shape) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b = saved(ctx)
        na, nb = ctx.needs_input_grad
        return (unbroadcast_t(g * b, a.shape) if na else None, unbroadcast_t(g * a, b.shape) if nb else None)


class Div(Op):
    _backward_name = "DivBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.device.K.div(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = unbroadcast(ctx.device.K.div(g, b), a.shape) if na else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if nb else None
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b = saved(ctx)
        na, nb = ctx.needs_input_grad
        ga = unbroadcast_t(g / b, a.shape) if na else None
        gb = unbroadcast_t(-g * a / (b * b), b.shape) if nb else None
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
            ga = unbroadcast(xp.where(b == 0, 0, g * b * xp.power(a, xp.where(b == 0, 1, b) - 1))
                             .astype(g.dtype), a.shape)
        if nb:
            safe_log = xp.log(xp.where(a > 0, a, 1))
            gb = unbroadcast(xp.where(a > 0, g * out * safe_log, 0).astype(g.dtype), b.shape)
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b, out = saved(ctx)
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:  # b * a**(b-1), zero where b == 0 (a**-1 would be inf at a == 0)
            b_zero = const(ctx, b._data == 0, g._data.dtype)
            ga = unbroadcast_t(g * b * a ** (b + b_zero - 1) * (1 - b_zero), a.shape)
        if nb:  # a**b * log(a) where a > 0, else 0
            a_pos = const(ctx, a._data > 0, g._data.dtype)
            gb = unbroadcast_t(g * out * (a * a_pos + (1 - a_pos)).log() * a_pos, b.shape)
        return ga, gb


class Maximum(Op):
    _backward_name = "MaximumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.device.K.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _minmax_backward(ctx, g, 1)

    @staticmethod
    def backward_graph(ctx, g):
        return _minmax_backward_graph(ctx, g, 1)


class Minimum(Op):
    _backward_name = "MinimumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.device.K.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        return _minmax_backward(ctx, g, -1)

    @staticmethod
    def backward_graph(ctx, g):
        return _minmax_backward_graph(ctx, g, -1)


def _minmax_backward(ctx, g, sign):
    a, b = ctx.saved_tensors
    wins_a = (a > b) if sign > 0 else (a < b)
    tie = a == b
    share_a = (wins_a + 0.5 * tie).astype(g.dtype)  # ties split the gradient evenly, as PyTorch does
    na, nb = ctx.needs_input_grad
    return (unbroadcast(g * share_a, a.shape) if na else None,
            unbroadcast(g * (1 - share_a), b.shape) if nb else None)


def _minmax_backward_graph(ctx, g, sign):
    """The same split, as Tensor ops: the shares are constants (piecewise linear)."""
    a, b = ctx.saved_tensors
    wins_a = (a > b) if sign > 0 else (a < b)
    share_a = const(ctx, wins_a + 0.5 * (a == b), g._data.dtype)
    na, nb = ctx.needs_input_grad
    return (unbroadcast_t(g * share_a, a.shape) if na else None,
            unbroadcast_t(g * (1 - share_a), b.shape) if nb else None)


def _binary(op_cls, name):
    def fn(input, other):
        a, b = promote(input, other, name)
        return op_cls.apply(a, b)
    fn.__name__ = name
    return fn


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
    raise ValueError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                     f"but found '{rounding_mode}'")


divide = true_divide = div


def _dtype_of(a, b):
    return a.dtype if isinstance(a, Tensor) else b.dtype


def _to_float(x):
    """True division of integer tensors gives the default float dtype."""
    if isinstance(x, Tensor) and x._data.dtype.kind != "f":
        return x.to(_dt.get_default_dtype())
    return x


def pow(input, exponent):
    if _amp.state.on:  # autocast
        input, exponent = _amp.cast("pow", input, exponent)
    if isinstance(exponent, (int, float)) and hasattr(exponent, "dtype"):
        exponent = exponent.item()  # a NumPy scalar is weak, like a Python number
    if isinstance(exponent, (int, float)) and isinstance(input, Tensor):
        if exponent == 1:
            return input * 1
        if input._data.dtype.kind in "iub":
            if isinstance(exponent, float):  # int tensor ** float -> default float dtype, as PyTorch
                input = input.to(_dt.get_default_dtype())
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
        K = ctx.device.K
        if p == 2:
            return K.square(a)
        if p == 3:  # as PyTorch computes it (NumPy's power runs libm's pow: 12x PyTorch's time at 301,056)
            return K.cube(a)
        if p == 0.5:
            return K.sqrt(a)
        return _xp(ctx).power(a, p) if a.dtype.kind == "f" else a ** p

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        K = ctx.device.K
        # g * (p * a^(p - 1)), PyTorch's order (g may be a sum's broadcast gradient: the threaded
        # array-and-number loop takes it)
        if p == 2:
            return (K.mul(g, K.mul(a, 2)), None)
        if p == 3:
            return (K.mul(g, K.mul(K.square(a), 3)), None)
        return ((g * p * _xp(ctx).power(a, p - 1)).astype(g.dtype), None)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        p = ctx.p
        if p == 2:
            return (g * 2 * a, None)
        return (g * p * a ** (p - 1), None)


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
    if input.shape != other.shape:
        return False
    return bool(input._device.backend.to_host((input._data == other._data).all()))


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(input._device.xp.allclose(input._data, other._data, rtol=rtol, atol=atol,
                                          equal_nan=equal_nan))


def isclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return _make(input._device.xp.isclose(input._data, other._data, rtol=rtol, atol=atol,
                                          equal_nan=equal_nan), input._device)


def lerp(input, end, weight):
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1):
    if _amp.state.on:  # autocast
        input, tensor1, tensor2 = _amp.cast("addcmul", input, tensor1, tensor2)
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):
    if _amp.state.on:  # autocast
        input, tensor1, tensor2 = _amp.cast("addcdiv", input, tensor1, tensor2)
    return input + value * tensor1 / tensor2
