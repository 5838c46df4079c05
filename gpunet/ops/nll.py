"""Cross entropy Ops: ClassNLL (class-index targets, on logits or log-probabilities) and SoftCrossEntropy
(class-probability targets).

Both move the class dim last and work on (M, C) rows. With class weights and reduction='mean' the
loss is sum_i w[t_i] * l_i / sum_i w[t_i] over non-ignored i (PyTorch's weighted mean); label
smoothing adds eps/C * sum_c w_c * (-log p_c) per row, normalised the same way.

cross_entropy on float32/float64 logits (C,), (N, C) or (N, C, d1, ...) runs fused kernels: the forward
(K.cross_entropy_forward) reads the logits and keeps only two numbers per row or position (max and log
of the shifted sum of exp), the backward (K.cross_entropy_backward) rebuilds the softmax from them while
it writes the gradient, in one pass; no log_softmax matrix, no one-hot, no scatter, and (N, C, d1, ...)
stays in its layout (viewed as (N, C, d1 * ...)). The reduction and the weighted mean's denominator are
worked out here on the per-row losses.
"""
import math

import numpy as np

from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops.softmax import log_softmax, softmax


def _rows(xp, x):
    """(N, C, d1, ...) -> (M, C) with the class dim last; (C,) -> (1, C)."""
    if x.ndim == 1:
        return x[None]
    if x.ndim == 2:
        return x
    return xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(xp, g2, shape):
    if len(shape) <= 2:
        return g2.reshape(shape)
    lead = (shape[0],) + tuple(shape[2:])
    return xp.ascontiguousarray(xp.moveaxis(g2.reshape(lead + (shape[1],)), -1, 1))


def _log_softmax_rows(xp, x2):
    shifted = x2 - x2.max(axis=1, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _reduce(xp, loss, reduction, denom, t_shape):
    if reduction == "none":
        return loss.reshape(t_shape)
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, as PyTorch
        return loss.sum() / denom


def _row_coef(xp, g, reduction, denom, m, dtype):
    """The upstream gradient of each row's loss: g per row ('none'), g ('sum') or g / denom ('mean')."""
    with np.errstate(invalid="ignore", divide="ignore"):
        coef = g.reshape(-1) if reduction == "none" else (g / denom if reduction == "mean" else g)
    return xp.broadcast_to(coef, (m,)).astype(dtype)  # a writable copy


def _target_weights(xp, t1, weight, ignore_index, dtype):
    """(valid rows, their targets with ignored ones set to 0, w[t] on valid rows and 0 elsewhere)."""
    valid = t1 != ignore_index
    ts = xp.where(valid, t1, 0)
    w_t = valid.astype(dtype) if weight is None else (weight[ts] * valid).astype(dtype, copy=False)
    return valid, ts, w_t


def _kernel_layout(x):
    """The fused kernels' view of logits: (C,) -> (1, C), (N, C) as it is, (N, C, d1, ...) -> (N, C, L)."""
    if x.ndim == 1:
        return x[None]
    return x if x.ndim == 2 else x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


class CrossEntropyRows(Op):
    """cross_entropy of logits (C,), (N, C) or (N, C, d1, ...) against class indices, on the fused kernels."""
    _backward_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, ignore_index, reduction, eps):
        xp, K = ctx.device.xp, ctx.device.K
        x3 = _kernel_layout(x)
        t1 = xp.ascontiguousarray(t.reshape(-1))
        per_position = x3.shape[:1] + x3.shape[2:]
        loss, stats = K.cross_entropy_forward(x3, t1.reshape(per_position), weight, ignore_index, eps)
        _, _, w_t = _target_weights(xp, t1, weight, ignore_index, x.dtype)
        denom = w_t.sum()
        ctx.save_for_backward(x, t1, stats, weight)
        ctx.consts = (reduction, eps, ignore_index, denom)
        return _reduce(xp, loss, reduction, denom, t.shape)

    @staticmethod
    def backward(ctx, g):
        x, t1, stats, weight = ctx.saved_tensors
        reduction, eps, ignore_index, denom = ctx.consts
        xp = ctx.device.xp
        x3 = _kernel_layout(x)
        per_position = x3.shape[:1] + x3.shape[2:]
        coef = _row_coef(xp, g, reduction, denom, t1.shape[0], x.dtype).reshape(per_position)
        grad = ctx.device.K.cross_entropy_backward(coef, x3, t1.reshape(per_position), stats, weight,
                                                   ignore_index, eps)
        if grad.shape != x.shape:  # a reshaped view would be copied into the leaf's .grad
            grad = grad.reshape(x.shape)
        return grad, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x = saved(ctx)[0]
        _, t1, _, weight = ctx.saved_tensors
        reduction, eps, ignore_index, denom = ctx.consts
        valid, ts, w_t = _target_weights(ctx.device.xp, t1, weight, ignore_index, x._data.dtype)
        return (_logits_grad_graph(ctx, g, x, valid, ts, w_t, weight, eps, reduction, denom),) + (None,) * 5


def _logits_grad_graph(ctx, g, x, valid, ts, w_t, weight, eps, reduction, denom):
    """cross_entropy's gradient with respect to the logits x (a Tensor, class dim 1) as differentiable
    operations: (softmax(x) * a - b) * (upstream per row), a and b constants of the targets, weights and
    smoothing, softmax(x) carrying the graph."""
    xp, dt = ctx.device.xp, x._data.dtype
    m, c = ts.shape[0], (x.shape[1] if x.ndim > 1 else x.shape[0])
    hard = w_t * (1 - eps)
    wsum = weight.sum() if weight is not None else c
    a = (hard + valid * (eps / c * wsum)).astype(dt, copy=False)
    b = xp.zeros((m, c), dtype=dt)
    b[xp.arange(m), ts] = hard
    if eps:
        b = b + (valid[:, None] * (eps / c)) * (weight if weight is not None else 1)
    rows = softmax(_rows_t(x, m, c), 1) * const(ctx, a[:, None]) - const(ctx, b)
    if reduction == "none":
        upstream = g.reshape(m, 1)
    else:
        upstream = g / const(ctx, xp.asarray(denom, dtype=dt)) if reduction == "mean" else g
    return _unrows_t(rows * upstream, x.shape)


def _rows_t(x, m, c):
    """_rows for a Tensor: (N, C, d1, ...) -> (M, C) with differentiable ops."""
    if x.ndim > 2:
        x = x.permute(0, *range(2, x.ndim), 1)
    return x.reshape(m, c)


def _unrows_t(g2, shape):
    if len(shape) <= 2:
        return g2.reshape(shape)
    n = len(shape)
    return g2.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)).permute(0, n - 1, *range(1, n - 1))


def fused_cross_entropy(x):
    """Whether CrossEntropyRows takes these logits: (C,), (N, C) or (N, C, d1, ...), float32 or float64."""
    return x.ndim >= 1 and x.dtype in _FUSED_DTYPES


class ClassNLL(Op):
    """Negative log-likelihood of class indices, on logits (cross_entropy) or log-probabilities (nll_loss)."""
    _backward_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, ignore_index, reduction, eps, from_logits):
        xp = ctx.device.xp
        x2 = _rows(xp, x)
        t1 = t.reshape(-1)
        lsm = _log_softmax_rows(xp, x2) if from_logits else x2
        valid, ts, w_t = _target_weights(xp, t1, weight, ignore_index, x.dtype)
        picked = xp.take_along_axis(lsm, ts[:, None], axis=1)[:, 0]
        loss = xp.where(valid, -picked * w_t, 0).astype(x.dtype, copy=False)
        if eps:
            wl = lsm * weight if weight is not None else lsm
            smooth = xp.where(valid, -wl.sum(axis=1), 0).astype(x.dtype, copy=False)
            loss = loss * (1 - eps) + smooth * (eps / x2.shape[1])
        denom = w_t.sum()
        out = _reduce(xp, loss, reduction, denom, t.shape)
        # on logits, the logits too (a reference): backward_graph differentiates softmax(x)
        ctx.save_for_backward(lsm if from_logits or eps else None, ts, valid, w_t, weight,
                              x if from_logits else None)
        ctx.consts = (x.shape, reduction, eps, from_logits, denom)
        return out

    @staticmethod
    def backward(ctx, g):
        lsm, ts, valid, w_t, weight, _ = ctx.saved_tensors
        x_shape, reduction, eps, from_logits, denom = ctx.consts
        xp = ctx.device.xp
        m = ts.shape[0]
        c = x_shape[1] if len(x_shape) > 1 else x_shape[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = g.reshape(-1) if reduction == "none" else (g / denom if reduction == "mean" else g)
        hard = w_t * (1 - eps)
        if from_logits:
            p = xp.exp(lsm)
            wsum = weight.sum() if weight is not None else c
            grad = p * (hard + valid * (eps / c * wsum))[:, None].astype(p.dtype, copy=False)
        else:
            grad = xp.zeros((m, c), dtype=w_t.dtype)
        grad[xp.arange(m), ts] -= hard
        if eps:
            wv = weight if weight is not None else 1
            grad -= (valid[:, None] * (eps / c)) * wv
        grad *= coef[:, None] if reduction == "none" else coef
        return _unrows(xp, grad.astype(w_t.dtype, copy=False), x_shape), None, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        """On logits: as CrossEntropyRows. nll_loss on log-probabilities: the gradient is a constant times g,
        so it is that constant (the backward of a unit g) times g."""
        x_shape, reduction, eps, from_logits, denom = ctx.consts
        if from_logits:
            _, ts, valid, w_t, weight, _ = ctx.saved_tensors
            gx = _logits_grad_graph(ctx, g, saved(ctx)[5], valid, ts, w_t, weight, eps, reduction, denom)
            return (gx,) + (None,) * 6
        unit = ClassNLL.backward(ctx, ctx.device.xp.ones(g._data.shape, dtype=g._data.dtype))[0]
        scale = g.unsqueeze(1) if reduction == "none" and len(x_shape) > 1 else g
        return (const(ctx, unit) * scale,) + (None,) * 6


class SoftCrossEntropy(Op):
    """Cross entropy against class probabilities: -sum_c w_c * t_c * log_softmax(x)_c per row."""
    _backward_name = "SoftCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, reduction, eps):
        xp = ctx.device.xp
        x2, t2 = _rows(xp, x), _rows(xp, t)
        c = x2.shape[1]
        if eps:
            t2 = t2 * (1 - eps) + eps / c
        wt = t2 * weight if weight is not None else t2
        lsm = _log_softmax_rows(xp, x2)
        loss = -(lsm * wt).sum(axis=1)
        m = loss.shape[0]
        if reduction == "none":
            out = loss.reshape(t.shape[:1] + t.shape[2:] if t.ndim > 1 else ())
        elif reduction == "sum":
            out = loss.sum()
        else:
            out = loss.sum() / x.dtype.type(m) if m else xp.full((), xp.nan, dtype=x.dtype)
        ctx.save_for_backward(lsm, wt, weight, x, t)  # x, t: references, for backward_graph
        ctx.consts = (x.shape, reduction, eps, m)
        return out

    @staticmethod
    def backward(ctx, g):
        lsm, wt, weight = ctx.saved_tensors[:3]
        x_shape, reduction, eps, m = ctx.consts
        xp = ctx.device.xp
        coef = g.reshape(-1, 1) if reduction == "none" else (g / m if reduction == "mean" else g)
        nx, nt = ctx.needs_input_grad[:2]
        gx = gt = None
        if nx:
            gx = _unrows(xp, (xp.exp(lsm) * wt.sum(axis=1, keepdims=True) - wt) * coef, x_shape)
        if nt:
            w = weight if weight is not None else 1
            gt = _unrows(xp, -(lsm * w) * (coef * (1 - eps)), x_shape)
        return gx, gt, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, t = saved(ctx)[3:]
        weight = ctx.saved_tensors[2]
        x_shape, reduction, eps, m = ctx.consts
        c = x_shape[1] if len(x_shape) > 1 else x_shape[0]
        x2, t2 = _rows_t(x, m, c), _rows_t(t, m, c)
        w = const(ctx, weight) if weight is not None else 1
        wt = (t2 * (1 - eps) + eps / c if eps else t2) * w
        coef = g.reshape(-1, 1) if reduction == "none" else (g / m if reduction == "mean" else g)
        nx, nt = ctx.needs_input_grad[:2]
        gx = _unrows_t((softmax(x2, 1) * wt.sum(1, keepdim=True) - wt) * coef, x_shape) if nx else None
        gt = _unrows_t(-(log_softmax(x2, 1) * w) * (coef * (1 - eps)), x_shape) if nt else None
        return gx, gt, None, None, None
