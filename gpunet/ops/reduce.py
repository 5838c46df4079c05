"""Reductions: sum, mean, prod, max/min (with and without dim), var/std, logsumexp, norm, cumsum."""
import builtins
import warnings

import numpy as np

from gpunet.amp import _policy as _amp
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import expand_reduced, norm_dims
from gpunet.ops.indexing import IndexBackward, _full_index
from gpunet.ops.elementwise import maximum, minimum
from gpunet.tensor import Tensor, _make
from gpunet.utils.named import return_types

builtins_max = builtins.max  # this module defines its own max


def _axes(axes):
    return None if axes is None else (axes if len(axes) != 1 else axes[0])


class Sum(Op):
    _backward_name = "SumBackward1"

    @staticmethod
    def forward(ctx, a, axes, keepdim, dtype):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return ctx.device.K.sum(a, _axes(axes), keepdim, dtype)

    @staticmethod
    def backward(ctx, g):
        g = expand_reduced(g, ctx.shape, ctx.axes, ctx.keepdim)
        return ctx.device.xp.broadcast_to(g, ctx.shape), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return expand_reduced(g, ctx.shape, ctx.axes, ctx.keepdim).expand(ctx.shape), None, None, None


class SumAll(Sum):
    _backward_name = "SumBackward0"  # PyTorch's name for a sum over all elements


class Mean(Op):
    _backward_name = "MeanBackward1"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        out = ctx.device.K.mean(a, _axes(axes), keepdim)
        ctx.count = a.size // builtins_max(out.size, 1) if a.size else 0
        return out

    @staticmethod
    def backward(ctx, g):
        g = expand_reduced(g, ctx.shape, ctx.axes, ctx.keepdim) / g.dtype.type(builtins_max(ctx.count, 1))
        return ctx.device.xp.broadcast_to(g, ctx.shape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        g = expand_reduced(g, ctx.shape, ctx.axes, ctx.keepdim) / builtins_max(ctx.count, 1)
        return g.expand(ctx.shape), None, None


class MeanAll(Mean):
    _backward_name = "MeanBackward0"


class Prod(Op):
    _backward_name = "ProdBackward1"

    @staticmethod
    def forward(ctx, a, axis, keepdim):
        xp = ctx.device.xp
        ctx.axis, ctx.keepdim = axis, keepdim
        ctx.save_for_backward(a)
        if axis is None:
            return a.prod()
        return xp.prod(a, axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = ctx.device.xp
        axis = ctx.axis
        x = a.reshape(-1) if axis is None else a
        ax = 0 if axis is None else axis
        # product of all other elements = exclusive cumprod from the left * from the right (zero-safe)
        ones_shape = list(x.shape)
        ones_shape[ax] = 1
        one = xp.ones(ones_shape, dtype=x.dtype)
        left = xp.cumprod(xp.concatenate([one, xp.take(x, range(x.shape[ax] - 1), axis=ax)], axis=ax),
                          axis=ax)
        rev = xp.flip(x, axis=ax)
        right = xp.flip(xp.cumprod(xp.concatenate([one, xp.take(rev, range(x.shape[ax] - 1), axis=ax)],
                                                  axis=ax), axis=ax), axis=ax)
        others = left * right
        if axis is None:
            return (g * others).reshape(a.shape), None, None
        if not ctx.keepdim:
            g = xp.expand_dims(g, axis)
        return g * others, None, None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        x = a.reshape(-1) if ctx.axis is None else a
        ax = 0 if ctx.axis is None else ctx.axis
        # one host sync, on this path only: with no zeros the product of the others is prod / x
        if not ctx.device.backend.to_host((x._data == 0).any()):
            others = Prod.apply(x, ax, True) / x
        else:  # row k of an (n, n) matrix holds x with x_k set to 1: its product is that of the others
            n = x._data.shape[ax]
            eye = ctx.device.xp.eye(n, dtype=x._data.dtype)
            rows = x.movedim(ax, -1).unsqueeze(-2) * const(ctx, 1 - eye) + const(ctx, eye)
            others = Prod.apply(rows, rows.ndim - 1, False).movedim(-1, ax)
        if ctx.axis is None:
            return (g * others).reshape(a.shape), None, None
        if not ctx.keepdim:
            g = g.unsqueeze(ax)
        return g * others, None, None


class MaxMinAll(Op):
    """max()/min() and amax/amin over dims: the gradient is shared evenly among tied extremes."""
    _backward_name = "MaxBackward1"

    @staticmethod
    def forward(ctx, a, axes, keepdim, is_max):
        if a.size == 0:
            raise RuntimeError(f"{'max' if is_max else 'min'}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        ax = _axes(axes)
        out = a.max(axis=ax, keepdims=keepdim) if is_max else a.min(axis=ax, keepdims=keepdim)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        out = expand_reduced(out, a.shape, ctx.axes, ctx.keepdim)
        g = expand_reduced(g, a.shape, ctx.axes, ctx.keepdim)
        mask = (a == out)
        count = mask.sum(axis=_axes(ctx.axes), keepdims=True)
        return g * mask / count.astype(g.dtype), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, out = ctx.saved_tensors  # the shares of the tied extremes are constants
        mask = a == expand_reduced(out, a.shape, ctx.axes, ctx.keepdim)
        share = const(ctx, mask / mask.sum(axis=_axes(ctx.axes), keepdims=True), g._data.dtype)
        return expand_reduced(g, a.shape, ctx.axes, ctx.keepdim) * share, None, None, None


class MaxMinDim(Op):
    """max(dim)/min(dim): values and indices; the gradient goes to the chosen index."""
    _backward_name = "MaxBackward0"

    @staticmethod
    def forward(ctx, a, dim, keepdim, is_max):
        xp = ctx.device.xp
        if a.shape and a.shape[dim] == 0:
            raise IndexError(f"{'max' if is_max else 'min'}(): Expected reduction dim {dim} to have "
                             "non-zero size.")
        idx = xp.argmax(a, axis=dim) if is_max else xp.argmin(a, axis=dim)
        idx = xp.expand_dims(idx, dim) if a.ndim else idx
        values = xp.take_along_axis(a, idx, axis=dim) if a.ndim else a.copy()
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        ctx.save_for_backward(idx)
        if not keepdim and a.ndim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        return values, idx.astype(xp.int64)

    @staticmethod
    def backward(ctx, g, g_idx=None):
        (idx,) = ctx.saved_tensors
        xp = ctx.device.xp
        if not ctx.shape:
            return g, None, None, None
        if not ctx.keepdim:
            g = xp.expand_dims(g, ctx.dim)
        out = xp.zeros(ctx.shape, dtype=g.dtype)
        xp.put_along_axis(out, idx, g, axis=ctx.dim)
        return out, None, None, None

    @staticmethod
    def backward_graph(ctx, g, g_idx=None):
        (idx,) = ctx.saved_tensors
        if not ctx.shape:
            return g, None, None, None
        if not ctx.keepdim:
            g = g.unsqueeze(ctx.dim)
        # g scattered to the chosen indices, as an Op whose own backward gathers them again
        full = _full_index(ctx.device.xp, idx, ctx.dim)
        return IndexBackward.apply(g, ctx.shape, full, True), None, None, None


class LogSumExp(Op):
    _backward_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        xp = ctx.device.xp
        ax = _axes(axes)
        m = a.max(axis=ax, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        # an all -inf slice gives -inf quietly, as PyTorch (errstate is NumPy's: CuPy does not warn)
        with np.errstate(divide="ignore"):
            out = xp.log(xp.exp(a - m).sum(axis=ax, keepdims=True)) + m
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = expand_reduced(g, a.shape, ctx.axes, ctx.keepdim)
        return g * ctx.device.xp.exp(a - out), None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, _ = saved(ctx)
        out = LogSumExp.apply(a, ctx.axes, True)  # recomputed from a (with its dims), so the graph reaches it
        return expand_reduced(g, a.shape, ctx.axes, ctx.keepdim) * (a - out).exp(), None, None


class CumSum(Op):
    _backward_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        return ctx.device.K.cumsum(a, dim)

    @staticmethod
    def backward(ctx, g):
        return ctx.device.K.cumsum(g, ctx.dim, reverse=True), None

    @staticmethod
    def backward_graph(ctx, g):
        return g.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim), None


def _float_input(input, op):
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {input.dtype}")


def _reduce_axes(dim, ndim, op):
    """norm_dims for reductions: a 0-d tensor accepts dim 0 or -1 and reduces over nothing, as PyTorch."""
    axes = norm_dims(dim, ndim, op)
    return () if ndim == 0 else axes


def sum(input, dim=None, keepdim=False, *, dtype=None):
    if _amp.state.on:  # autocast
        (input,) = _amp.cast("sum", input)
    axes = _reduce_axes(dim, input._data.ndim, "sum") if dim is not None and dim != () else None
    np_dtype = None
    if dtype is not None:
        np_dtype = _dt.to_dtype(dtype).np
    elif input._data.dtype.kind in "biu":
        np_dtype = _dt.int64.np  # integer sums accumulate in int64, as PyTorch does
    return (Sum if axes is not None else SumAll).apply(input, axes, keepdim, np_dtype)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    _float_input(input, "mean")
    axes = _reduce_axes(dim, input._data.ndim, "mean") if dim is not None and dim != () else None
    return (Mean if axes is not None else MeanAll).apply(input, axes, keepdim)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if _amp.state.on:  # autocast
        (input,) = _amp.cast("prod", input)
    if dtype is not None:
        input = input.to(dtype)
    axis = None if dim is None else norm_dims(dim, input._data.ndim, "prod")[0]
    if input._data.ndim == 0:
        axis = None
    return Prod.apply(input, axis, keepdim)


def _max_min(input, dim, keepdim, is_max, name):
    if isinstance(dim, Tensor):  # max(a, b) elementwise
        return maximum(input, dim) if is_max else minimum(input, dim)
    if dim is None:
        return MaxMinAll.apply(input, None, False, is_max)
    (d,) = norm_dims(dim, input._data.ndim, name)
    values, indices = MaxMinDim.apply(input, d, keepdim, is_max)
    return return_types(name, values, indices)


def max(input, dim=None, keepdim=False):
    return _max_min(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    return _max_min(input, dim, keepdim, False, "min")


def amax(input, dim=(), keepdim=False):
    axes = _reduce_axes(dim, input._data.ndim, "amax") if dim != () else None
    return MaxMinAll.apply(input, axes, keepdim, True)


def amin(input, dim=(), keepdim=False):
    axes = _reduce_axes(dim, input._data.ndim, "amin") if dim != () else None
    return MaxMinAll.apply(input, axes, keepdim, False)


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False)


def _arg(input, dim, keepdim, is_max):
    xp = input._device.xp
    a = input._data
    if dim is None:
        idx = (xp.argmax if is_max else xp.argmin)(a.reshape(-1))
        out = idx.reshape((1,) * a.ndim) if keepdim else idx
    else:
        (d,) = norm_dims(dim, a.ndim, "argmax" if is_max else "argmin")
        out = (xp.argmax if is_max else xp.argmin)(a, axis=d)
        if keepdim and a.ndim:
            out = xp.expand_dims(out, d)
    return _make(xp.asarray(out).astype(xp.int64), input._device)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    correction = _correction(unbiased, correction)
    m = mean(input, dim, keepdim=True)
    d = input - m
    axes = _reduce_axes(dim, input._data.ndim, "var") if dim is not None else None
    n = input._data.size if axes is None else _count(input._data.shape, axes)
    if n - correction <= 0:  # PyTorch's warning, on every device (the result is inf or nan)
        warnings.warn("var(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      "reduction factor (input numel divided by output numel).", UserWarning, stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore"):  # NumPy's own warning would be a second one
        return sum(d * d, dim, keepdim) / builtins_max(n - correction, 0)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def logsumexp(input, dim, keepdim=False):
    axes = _reduce_axes(dim, input._data.ndim, "logsumexp")
    return LogSumExp.apply(input, axes, keepdim)


def cumsum(input, dim, *, dtype=None):
    if _amp.state.on:  # autocast
        (input,) = _amp.cast("cumsum", input)
    if dtype is not None:
        input = input.to(dtype)
    (d,) = norm_dims(dim, input._data.ndim, "cumsum")
    if input._data.ndim == 0:  # numpy's cumsum would return shape (1,)
        return CumSum.apply(input.reshape(1), 0).reshape(())
    return CumSum.apply(input, d)


class CumProd(Op):
    """The cumulative product along dim. Its backward divides by nothing, so zeros in the input give the
    exact gradient: d out_j / d x_i = B_i prod_{i<k<=j} x_k for j >= i, B_i the product of the entries before
    i, so grad_i = B_i S_i with S_i = g_i + x_{i+1} S_{i+1}, run backwards along dim (one vectorised step
    per position)."""
    _backward_name = "CumprodBackward0"
    _no_graph_why = ": its backward is a recurrence along the dim, not written with differentiable ops"

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        ctx.save_for_backward(a)
        return ctx.device.xp.cumprod(a, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = ctx.device.xp
        x, g = xp.moveaxis(a, ctx.dim, 0), xp.moveaxis(g, ctx.dim, 0)
        before = xp.ones_like(x)
        xp.cumprod(x[:-1], axis=0, out=before[1:])
        s = xp.empty_like(before)
        s[-1] = g[-1]
        for i in range(x.shape[0] - 2, -1, -1):
            s[i] = g[i] + x[i + 1] * s[i + 1]
        return xp.moveaxis(before * s, 0, ctx.dim), None


def cumprod(input, dim, *, dtype=None):
    if _amp.state.on:  # autocast
        (input,) = _amp.cast("cumprod", input)
    if dtype is not None:
        input = input.to(dtype)
    (d,) = norm_dims(dim, input._data.ndim, "cumprod")
    if input._data.ndim == 0:
        return CumProd.apply(input.reshape(1), 0).reshape(())
    if input._data.shape[d] == 0:
        return input.clone() if input._data.dtype.kind == "f" else input.to(_dt.int64)
    return CumProd.apply(input, d)


class Norm(Op):
    """||x||_p over axes (None: all elements) for a finite p > 1. The gradient at a zero vector is zero, as
    in PyTorch; composing sqrt(sum(x * x)) would give inf * 0 = NaN there (e.g. norm(w - w0) at w = w0)."""
    _backward_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, a, p, axes, keepdim):
        xp = ctx.device.xp
        if p == 2.0:
            n = xp.sqrt((a * a).sum(axis=_axes(axes), keepdims=True))
        else:
            n = (xp.abs(a) ** p).sum(axis=_axes(axes), keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(a, n)
        ctx.p, ctx.axes = p, axes
        if keepdim:
            return n
        return n.reshape(()) if axes is None else n.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, g):
        a, n = ctx.saved_tensors
        xp = ctx.device.xp
        safe = xp.where(n == 0, 1, n)
        d = a / safe if ctx.p == 2.0 else xp.sign(a) * xp.abs(a) ** (ctx.p - 1) / safe ** (ctx.p - 1)
        return xp.where(n == 0, 0, g.reshape(n.shape) * d).astype(a.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, _ = saved(ctx)
        n = Norm.apply(a, ctx.p, ctx.axes, True)  # recomputed from a, so the graph reaches it
        zero = const(ctx, n._data == 0, g._data.dtype)
        safe = n + zero  # 1 where the norm is 0; the gradient there is 0, as in backward
        p = ctx.p
        if p == 2.0:
            d = a / safe
        else:
            d = const(ctx, ctx.device.xp.sign(a._data)) * a.abs() ** (p - 1) / safe ** (p - 1)
        return g.reshape(n.shape) * d * (1 - zero), None, None, None


def _norm_input(input):
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {input.dtype}")


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector/Frobenius norm: p in {'fro', 2, 1, inf, -inf, 0, any float} over dim (None: all elements)."""
    if _amp.state.on:  # autocast
        (input,) = _amp.cast("norm", input)
    if dtype is not None:
        input = input.to(dtype)
    if p == "fro" or p == 2:
        _norm_input(input)
        axes = _reduce_axes(dim, input._data.ndim, "norm") if dim is not None and dim != () else None
        return Norm.apply(input, 2.0, axes, keepdim)
    if p == float("inf"):
        return input.abs().amax(dim if dim is not None else (), keepdim)
    if p == float("-inf"):
        return input.abs().amin(dim if dim is not None else (), keepdim)
    if p == 0:
        return (input != 0).to(input.dtype).sum(dim, keepdim)
    if p == 1:
        return input.abs().sum(dim, keepdim)
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') is not supported by gpunet")
    if isinstance(p, (int, float)) and p > 1 and p != float("inf"):
        _norm_input(input)
        axes = _reduce_axes(dim, input._data.ndim, "norm") if dim is not None and dim != () else None
        return Norm.apply(input, float(p), axes, keepdim)
    return (input.abs() ** p).sum(dim, keepdim) ** (1.0 / p)


def all(input, dim=None, keepdim=False):
    a = input._data
    if dim is None:
        return _make(a.all(), input._device)
    (d,) = norm_dims(dim, a.ndim, "all")
    return _make(a.all(axis=d, keepdims=keepdim), input._device)


def any(input, dim=None, keepdim=False):
    a = input._data
    if dim is None:
        return _make(a.any(), input._device)
    (d,) = norm_dims(dim, a.ndim, "any")
    return _make(a.any(axis=d, keepdims=keepdim), input._device)


def count_nonzero(input, dim=None):
    return (input != 0).sum(dim)
