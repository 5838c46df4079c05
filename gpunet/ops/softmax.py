"""softmax, softmin and log_softmax: one Op each, shared by Tensor.softmax and nn.functional.

Both subtract the row maximum first, so logits of 1e4 stay finite; log_softmax's backward is
g - softmax * sum(g), never a division by a softmax. On float32/float64 tensors forward and backward are
each one fused kernel (K.softmax_forward, ...: one pass over the rows, in parallel; along a middle dim,
such as dim 1 of (N, C, H, W), vectorised across the positions); other dtypes take the array-module path
below. The functions keep PyTorch's signatures, checks and messages (nn.functional re-exports them), so
Tensor.softmax behaves as F.softmax.
"""
import warnings

import numpy as _np

from gpunet.amp import _policy as _amp
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import saved
from gpunet.ops._checks import check_float, check_tensor
from gpunet.tensor import _dim


_FUSED_DTYPES = (_np.dtype(_np.float32), _np.dtype(_np.float64))


def _fused(a):
    """Whether the fused kernels take this call: a float32/float64 array of 1+ dims."""
    return a.ndim > 0 and a.dtype in _FUSED_DTYPES


class Softmax(Op):
    _backward_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        if _fused(a):
            e = ctx.device.K.softmax_forward(a, dim)
        else:
            xp = ctx.device.xp
            with _np.errstate(invalid="ignore"):  # a fully -inf row gives nan, as in PyTorch
                e = xp.exp(a - a.max(axis=dim, keepdims=True))
                e /= e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(e)
        return e

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if _fused(y):
            return ctx.device.K.softmax_backward(g.astype(y.dtype, copy=False), y, ctx.dim), None
        gy = g * y
        return gy - y * gy.sum(axis=ctx.dim, keepdims=True), None

    @staticmethod
    def backward_graph(ctx, g):
        (y,) = saved(ctx)
        gy = g * y
        return gy - y * gy.sum(ctx.dim, keepdim=True), None


class LogSoftmax(Op):
    _backward_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        if _fused(a):
            out = ctx.device.K.log_softmax_forward(a, dim)
        else:
            xp = ctx.device.xp
            with _np.errstate(invalid="ignore", divide="ignore"):
                shifted = a - a.max(axis=dim, keepdims=True)
                out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        if _fused(out):
            return ctx.device.K.log_softmax_backward(g.astype(out.dtype, copy=False), out, ctx.dim), None
        return g - ctx.device.xp.exp(out) * g.sum(axis=ctx.dim, keepdims=True), None

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)
        return g - out.exp() * g.sum(ctx.dim, keepdim=True), None


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
    elif _amp.state.on:  # autocast
        (input,) = _amp.cast(name, input)
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
