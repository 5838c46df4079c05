"""Inverse and hyperbolic trigonometric functions, atan2 and hypot: NumPy's / CuPy's ufuncs forward, their
derivatives backward (as array arithmetic, and as Tensor arithmetic for create_graph).

Edges are the formulas': asin and acos at +-1, acosh at 1 and atanh at +-1 have infinite derivatives
(PyTorch gives inf there too), and atan2's gradient at (0, 0) is NaN (0 / 0), as PyTorch's; outside the
domain the value is NaN. As in PyTorch, none of these warns (NumPy's floating-point warnings are off here).
"""
import numpy as np

from gpunet.amp import _policy as _amp
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import saved
from gpunet.ops._util import promote, unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.unary import _unary
from gpunet.tensor import Tensor

__all__ = ["acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "asin",
           "asinh", "atan", "atan2", "atanh", "cosh", "hypot", "sinh"]


def _quiet():
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")  # (one per use: it keeps a token)


def _derivative_op(name, ufunc, derivative, derivative_t):
    """An Op computing xp.<ufunc>(a), whose backward is g * derivative(xp, a) (derivative_t(a) on Tensors)."""
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with _quiet():
            return getattr(ctx.device.xp, ufunc)(a)

    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        with _quiet():
            return g * derivative(ctx.device.xp, a)

    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g * derivative_t(a)

    cls = type(name.capitalize(), (Op,), {
        "_backward_name": f"{name.capitalize()}Backward0", "forward": staticmethod(forward),
        "backward": staticmethod(backward), "backward_graph": staticmethod(backward_graph)})
    return _unary(cls, name)


asin = arcsin = _derivative_op("asin", "arcsin", lambda xp, a: 1 / xp.sqrt(1 - a * a),
                               lambda a: (1 - a * a).rsqrt())
acos = arccos = _derivative_op("acos", "arccos", lambda xp, a: -1 / xp.sqrt(1 - a * a),
                               lambda a: -(1 - a * a).rsqrt())
atan = arctan = _derivative_op("atan", "arctan", lambda xp, a: 1 / (1 + a * a), lambda a: 1 / (1 + a * a))
sinh = _derivative_op("sinh", "sinh", lambda xp, a: xp.cosh(a), lambda a: cosh(a))
cosh = _derivative_op("cosh", "cosh", lambda xp, a: xp.sinh(a), lambda a: sinh(a))
asinh = arcsinh = _derivative_op("asinh", "arcsinh", lambda xp, a: 1 / xp.sqrt(a * a + 1),
                                 lambda a: (a * a + 1).rsqrt())
acosh = arccosh = _derivative_op("acosh", "arccosh", lambda xp, a: 1 / xp.sqrt(a * a - 1),
                                 lambda a: (a * a - 1).rsqrt())
atanh = arctanh = _derivative_op("atanh", "arctanh", lambda xp, a: 1 / (1 - a * a), lambda a: 1 / (1 - a * a))


def _shape(x):
    return getattr(x, "shape", None)


class Atan2(Op):
    """atan2(a, b), the angle of (b, a): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)."""
    _backward_name = "Atan2Backward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.shapes = (_shape(a), _shape(b))
        return ctx.device.xp.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        with _quiet():
            scale = g / (a * a + b * b)
        return (unbroadcast(scale * b, ctx.shapes[0]) if na else None,
                unbroadcast(-scale * a, ctx.shapes[1]) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b = saved(ctx)
        na, nb = ctx.needs_input_grad
        scale = g / (a * a + b * b)
        return (unbroadcast_t(scale * b, ctx.shapes[0]) if na else None,
                unbroadcast_t(-scale * a, ctx.shapes[1]) if nb else None)


class Hypot(Op):
    """sqrt(a^2 + b^2) without overflow: d/da = a / out, d/db = b / out."""
    _backward_name = "HypotBackward0"

    @staticmethod
    def forward(ctx, a, b):
        out = ctx.device.xp.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        ctx.shapes = (_shape(a), _shape(b))
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        with _quiet():
            scale = g / out
        return (unbroadcast(scale * a, ctx.shapes[0]) if na else None,
                unbroadcast(scale * b, ctx.shapes[1]) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b, out = saved(ctx)
        na, nb = ctx.needs_input_grad
        scale = g / out
        return (unbroadcast_t(scale * a, ctx.shapes[0]) if na else None,
                unbroadcast_t(scale * b, ctx.shapes[1]) if nb else None)


def _float_binary(op_cls, name):
    def fn(input, other):
        a, b = promote(input, other, name)
        if _amp.state.on:  # autocast
            a, b = _amp.cast(name, a, b)
        tensor = a if isinstance(a, Tensor) else b
        if not tensor.dtype.is_floating_point:  # integer inputs give the default float dtype, as PyTorch
            dtype = _dt.get_default_dtype()
            a, b = (x.to(dtype) if isinstance(x, Tensor) else x for x in (a, b))
        return op_cls.apply(a, b)
    fn.__name__ = name
    return fn


atan2 = arctan2 = _float_binary(Atan2, "atan2")
hypot = _float_binary(Hypot, "hypot")
