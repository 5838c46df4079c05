"""Binds operators and methods onto Tensor, so each op is written once as a function.

gpunet.ops calls bind() when it is imported: tensor.py imports nothing above itself, so every
method that runs an op (operators, math, shape, device moves, backward, the legacy constructor,
pickling) is attached here. The arithmetic operators keep a fast path for the common case (same
dtypes, or a Python number of the tensor's category) and fall back to full PyTorch promotion.
"""
import numpy as np

from gpunet.autograd.engine import backward as _run_backward
from gpunet.ops import convert as C, creation, elementwise as E, indexing as X, inplace as I, linalg as L
from gpunet.ops import linalg_decomp as LD, reduce as R, shape as S, softmax as SM, sorting as O
from gpunet.ops import composed_shape as CS, trigonometric as TR
from gpunet.ops.elementwise import Add, Div, Mul, Sub
from gpunet.ops.fill import (bernoulli_, copy_, exponential_, fill_, log_normal_, normal_, random_, uniform_,
                             zero_)
from gpunet.tensor import Tensor


def _fast(op_cls, slow, reverse=False):
    apply, apply_pair = op_cls.apply, op_cls.apply_pair  # bound once: the hottest calls there are

    def method(self, other):
        if isinstance(other, Tensor):
            if other._data.dtype == self._data.dtype and (op_cls is not Div or self._data.dtype.kind == "f"):
                return apply_pair(other, self) if reverse else apply_pair(self, other)
        else:
            kind = self._data.dtype.kind
            t = type(other)
            if (t is float and kind == "f") or (t is int and kind in "fiu" and op_cls is not Div) or (
                    t is int and op_cls is Div and kind == "f"):
                return apply(other, self) if reverse else apply(self, other)
        return slow(other, self) if reverse else slow(self, other)
    return method


def _rpow(self, other):
    return E.pow(other, self)


def _rmatmul(self, other):
    return L.matmul(other, self)


def _rsub(self, other):
    return E.sub(other, self)


def _rdiv(self, other):
    return E.div(other, self)


def _rfloordiv(self, other):
    return E.floor_divide(other, self)


def _rmod(self, other):
    return E.remainder(other, self)


def _sum_over_sizes(f):
    def method(self, *dims, **kwargs):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return f(self, *dims, **kwargs)
    return method


def _T(self):
    return S.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))


def _mT(self):
    return S.transpose(self, -2, -1)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return creation.tensor(data, dtype=dtype or self.dtype, device=device or self._device,
                           requires_grad=requires_grad)


def _new_factory(fn):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, device=device or self._device,
                  requires_grad=requires_grad)
    return method


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self._device,
                         requires_grad=requires_grad)


def _scatter_(self, dim, index, src=None, value=None, reduce=None):
    return I.commit_inplace(self, X.scatter(self, dim, index, src, value, reduce))


def _max_method(self, dim=None, keepdim=False):
    return R.max(self, dim, keepdim)


def _min_method(self, dim=None, keepdim=False):
    return R.min(self, dim, keepdim)


def _softmax(self, dim, dtype=None):
    return SM.softmax(self, dim, dtype=dtype)


def _log_softmax(self, dim, dtype=None):
    return SM.log_softmax(self, dim, dtype=dtype)


def _legacy_new(cls, *args, device=None, dtype=None):
    """Legacy constructor: Tensor(data), Tensor(*sizes), Tensor() -- default float dtype."""
    if dtype is None:
        dtype = getattr(cls, "_legacy_dtype", None)
    return creation.legacy_new(cls, args, device, dtype)


def _reduce_ex(self, protocol):
    host = np.asarray(self.detach().cpu()._data)
    return (creation._rebuild, (host, str(self._device), self._requires_grad))


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    _run_backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _type(self, dtype=None, non_blocking=False):
    return C.legacy_type(self, dtype)


def bind(cls=Tensor):
    fast = {
        "__add__": _fast(Add, E.add), "__radd__": _fast(Add, E.add, reverse=True),
        "__sub__": _fast(Sub, E.sub), "__rsub__": _rsub,
        "__mul__": _fast(Mul, E.mul), "__rmul__": _fast(Mul, E.mul, reverse=True),
        "__truediv__": _fast(Div, E.div), "__rtruediv__": _rdiv,
    }
    methods = dict(fast)
    methods.update({
        "__neg__": E.neg, "__abs__": E.abs, "__pos__": lambda self: self,
        "__pow__": E.pow, "__rpow__": _rpow, "__matmul__": L.matmul, "__rmatmul__": _rmatmul,
        "__floordiv__": E.floor_divide, "__rfloordiv__": _rfloordiv,
        "__mod__": E.remainder, "__rmod__": _rmod,
        "__eq__": E.eq, "__ne__": E.ne, "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt, "__ge__": E.ge,
        "__and__": E.logical_and, "__or__": E.logical_or, "__xor__": E.logical_xor,
        "__invert__": E.logical_not,
        "__getitem__": X.getitem, "__setitem__": X.setitem,
        "__iadd__": I.inplace(E.add, "__iadd__"), "__isub__": I.inplace(E.sub, "__isub__"),
        "__imul__": I.inplace(E.mul, "__imul__"), "__itruediv__": I.inplace(E.div, "__itruediv__"),
        # arithmetic
        "add": E.add, "sub": E.sub, "subtract": E.sub, "mul": E.mul, "multiply": E.mul, "div": E.div,
        "divide": E.div, "true_divide": E.div, "floor_divide": E.floor_divide, "remainder": E.remainder,
        "fmod": E.fmod, "pow": E.pow, "neg": E.neg, "negative": E.neg, "abs": E.abs, "absolute": E.abs,
        "exp": E.exp, "expm1": E.expm1, "log": E.log, "log2": E.log2, "log10": E.log10, "log1p": E.log1p,
        "sqrt": E.sqrt, "rsqrt": E.rsqrt, "reciprocal": E.reciprocal, "square": E.square,
        "sin": E.sin, "cos": E.cos, "tan": E.tan, "tanh": E.tanh, "sigmoid": E.sigmoid, "relu": E.relu,
        "erf": E.erf, "sign": E.sign, "sgn": E.sign, "floor": E.floor, "ceil": E.ceil, "round": E.round,
        "trunc": E.trunc, "logit": E.logit, "exp2": E.exp2, "deg2rad": E.deg2rad, "rad2deg": E.rad2deg,
        "asin": TR.asin, "arcsin": TR.asin, "acos": TR.acos, "arccos": TR.acos, "atan": TR.atan,
        "arctan": TR.atan, "sinh": TR.sinh, "cosh": TR.cosh, "asinh": TR.asinh, "arcsinh": TR.asinh,
        "acosh": TR.acosh, "arccosh": TR.acosh, "atanh": TR.atanh, "arctanh": TR.atanh, "atan2": TR.atan2,
        "arctan2": TR.atan2, "hypot": TR.hypot,
        "clamp": E.clamp, "clip": E.clamp, "clamp_min": E.clamp_min, "clamp_max": E.clamp_max,
        "maximum": E.maximum, "minimum": E.minimum, "lerp": E.lerp,
        "addcmul": E.addcmul, "addcdiv": E.addcdiv,
        "eq": E.eq, "ne": E.ne, "lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge, "equal": E.equal,
        "greater": E.gt, "less": E.lt, "logical_and": E.logical_and, "logical_or": E.logical_or,
        "logical_not": E.logical_not, "logical_xor": E.logical_xor, "isnan": E.isnan, "isinf": E.isinf,
        "isfinite": E.isfinite, "allclose": E.allclose, "isclose": E.isclose,
        # reductions
        "sum": R.sum, "mean": R.mean, "prod": R.prod, "max": _max_method, "min": _min_method,
        "amax": R.amax, "amin": R.amin, "argmax": R.argmax, "argmin": R.argmin, "var": R.var, "std": R.std,
        "logsumexp": R.logsumexp, "norm": R.norm, "cumsum": R.cumsum, "cumprod": R.cumprod, "all": R.all,
        "any": R.any,
        "count_nonzero": R.count_nonzero,
        "sort": O.sort, "argsort": O.argsort, "topk": O.topk,
        # linear algebra
        "matmul": L.matmul, "mm": L.mm, "bmm": L.bmm, "dot": L.dot, "mv": L.mv, "outer": L.outer,
        "inner": L.inner, "addmm": L.addmm, "inverse": LD.inv, "det": LD.det, "logdet": LD.logdet,
        "slogdet": LD.slogdet,
        # shape and indexing
        "view": S.view, "view_as": S.view_as, "reshape": S.reshape, "reshape_as": S.reshape_as,
        "flatten": S.flatten, "unflatten": S.unflatten, "squeeze": S.squeeze, "unsqueeze": S.unsqueeze,
        "permute": S.permute, "transpose": S.transpose, "swapaxes": S.transpose, "swapdims": S.transpose,
        "t": S.t, "movedim": S.movedim, "moveaxis": S.movedim, "expand": S.expand, "expand_as": S.expand_as,
        "diff": CS.diff,
        "broadcast_to": S.broadcast_to, "contiguous": S.contiguous, "clone": S.clone, "repeat": S.repeat,
        "tile": S.tile, "flip": S.flip, "roll": S.roll,
        "split": S.split, "chunk": S.chunk, "unbind": S.unbind,
        "narrow": S.narrow, "select": S.select, "gather": X.gather, "scatter": X.scatter,
        "scatter_add": X.scatter_add, "index_select": X.index_select, "masked_fill": X.masked_fill,
        "masked_select": X.masked_select, "where": lambda self, cond, other: X.where(cond, self, other),
        "nonzero": X.nonzero, "tril": X.tril, "triu": X.triu,
        # in place
        "zero_": zero_, "fill_": fill_, "copy_": copy_, "normal_": normal_, "uniform_": uniform_,
        "exponential_": exponential_, "bernoulli_": bernoulli_, "random_": random_,
        "log_normal_": log_normal_, "scatter_": _scatter_,
        # factories
        "new_tensor": _new_tensor, "new_zeros": _new_factory(creation.zeros),
        "new_ones": _new_factory(creation.ones), "new_empty": _new_factory(creation.empty),
        "new_full": _new_full,
        "bernoulli": creation.bernoulli, "multinomial": creation.multinomial,
        "softmax": _softmax, "log_softmax": _log_softmax,
        # device and dtype, autograd, construction and pickling
        "to": C.to, "type": _type, "backward": _backward, "__reduce_ex__": _reduce_ex,
    })
    for name in ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt",
                 "sin", "cos", "tanh", "sigmoid", "relu", "sign", "floor", "ceil", "round", "trunc", "clamp",
                 "clamp_min", "clamp_max", "clip", "reciprocal", "square", "masked_fill", "lerp", "addcmul",
                 "addcdiv", "maximum", "minimum", "remainder", "floor_divide", "erf", "expm1", "tan", "fmod",
                 "t", "transpose", "squeeze", "unsqueeze", "scatter_add", "index_select", "sub",
                 "true_divide", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh", "cosh",
                 "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "atan2", "arctan2", "hypot",
                 "logit", "exp2", "deg2rad", "rad2deg", "sgn", "cumprod"):
        if name in methods:
            methods[name + "_"] = I.inplace(methods[name], name + "_")
    for name in ("t", "transpose", "squeeze", "unsqueeze"):  # these change the shape, not the values
        methods[name + "_"] = I.inplace_view(methods[name], name + "_")
    methods["subtract_"] = methods["sub_"]
    methods["multiply_"] = methods["mul_"]
    methods["divide_"] = methods["div_"]
    for name, fn in methods.items():
        setattr(cls, name, fn)
    cls.__new__ = staticmethod(_legacy_new)
    cls.T = property(_T)
    cls.mT = property(_mT)
    cls.H = property(_T)
    cls.sum_to_size = _sum_over_sizes(lambda self, *size: _sum_to_size(self, size))


def _sum_to_size(self, size):
    shape = self._data.shape
    lead = len(shape) - len(size)
    dims = [i for i in range(len(shape)) if i < lead or (size[i - lead] == 1 and shape[i] != 1)]
    out = self.sum(dims, keepdim=True) if dims else self
    return out.reshape(size)
