"""cross_entropy and nll_loss: one fused Op each for class-index targets, one for class-probability targets.

Shapes: input (N, C), (C,) or (N, C, d1, ...); class-index target (N,), () or (N, d1, ...). The Ops move
the class dim last and work on (M, C) rows. With class weights and reduction='mean' the loss is
sum_i w[t_i] * l_i / sum_i w[t_i] over non-ignored i (PyTorch's weighted mean); label smoothing adds
eps/C * sum_c w_c * (-log p_c) per row, normalised the same way.
"""
import numpy as np

from gpunet.autograd.function import Op
from gpunet.nn.functional._common import check_reduction, check_same_device, check_tensor, legacy_reduction

__all__ = ["cross_entropy", "nll_loss"]


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


class ClassNLL(Op):
    """Negative log-likelihood of class indices, on logits (cross_entropy) or log-probabilities (nll_loss)."""
    _backward_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, ignore_index, reduction, eps, from_logits):
        xp = ctx.device.xp
        x2 = _rows(xp, x)
        t1 = t.reshape(-1)
        lsm = _log_softmax_rows(xp, x2) if from_logits else x2
        valid = t1 != ignore_index
        ts = xp.where(valid, t1, 0)
        picked = xp.take_along_axis(lsm, ts[:, None], axis=1)[:, 0]
        w_t = valid.astype(x.dtype) if weight is None else (weight[ts] * valid).astype(x.dtype, copy=False)
        loss = xp.where(valid, -picked * w_t, 0).astype(x.dtype, copy=False)
        if eps:
            wl = lsm * weight if weight is not None else lsm
            smooth = xp.where(valid, -wl.sum(axis=1), 0).astype(x.dtype, copy=False)
            loss = loss * (1 - eps) + smooth * (eps / x2.shape[1])
        denom = w_t.sum()
        if reduction == "none":
            out = loss.reshape(t.shape)
        elif reduction == "sum":
            out = loss.sum()
        else:
            with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, as PyTorch
                out = loss.sum() / denom
        ctx.save_for_backward(lsm if from_logits or eps else None, ts, valid, w_t, weight)
        ctx.consts = (x.shape, reduction, eps, from_logits, denom)
        return out

    @staticmethod
    def backward(ctx, g):
        lsm, ts, valid, w_t, weight = ctx.saved_tensors
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
        ctx.save_for_backward(lsm, wt, weight)
        ctx.consts = (x.shape, reduction, eps, m)
        return out

    @staticmethod
    def backward(ctx, g):
        lsm, wt, weight = ctx.saved_tensors
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


def _check_weight(op, weight, c, input):
    if weight is None:
        return None
    check_tensor(weight, "weight", op)
    if weight._data.shape != (c,):
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {c} classes or no classes "
                           f"but got weight tensor of shape: {list(weight._data.shape)}")
    check_same_device(op, input, weight)
    return weight._data.astype(input._data.dtype, copy=False)


def _check_index_target(op, input, target, ignore_index):
    """Shape, dtype and range checks for class-index targets; returns the class count C."""
    shape = input._data.shape
    if len(shape) == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension (C,), (N, C) or (N, C, d1, ...), got "
                         "a 0-D tensor")
    c = shape[1] if len(shape) > 1 else shape[0]
    t = target._data
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected scalar type Long but found {target.dtype} (class-index targets "
                           "must be an integer tensor of shape "
                           f"{list(shape[:1] + shape[2:]) if len(shape) > 1 else []}; class probabilities "
                           f"must have the input's shape {list(shape)})")
    expected = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if t.shape != expected:
        if len(shape) == 2 and t.ndim == 1:
            raise ValueError(f"Expected input batch_size ({shape[0]}) to match target batch_size "
                             f"({t.shape[0]}).")
        raise RuntimeError(f"{op}: Expected target size {list(expected)}, got {list(t.shape)} (input has "
                           f"shape {list(shape)})")
    check_same_device(op, input, target)
    if t.size:
        input._device.backend.device_assert(
            ("target", op, c, ignore_index), (t != ignore_index) & ((t < 0) | (t >= c)), t,
            lambda value: IndexError(f"{op}: Target {value} is out of bounds: expected class indices in [0, "
                                     f"{c - 1}] for {c} classes (or ignore_index={ignore_index})"))
    return c


def _check_float_input(op, input):
    check_tensor(input, "input", op)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f'"{op}" not implemented for {input.dtype}: input must be a floating-point tensor')


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for 1-D input) followed by nll_loss, in one stable Op.

    target: class indices (integer tensor without the class dim) or class probabilities (input's shape).
    """
    _check_float_input("cross_entropy", input)
    check_tensor(target, "target", "cross_entropy")
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    shape = input._data.shape
    c = shape[1] if len(shape) > 1 else (shape[0] if shape else 0)
    w = _check_weight("cross_entropy", weight, c, input)
    if target._data.dtype.kind == "f" and target._data.shape == shape:
        check_same_device("cross_entropy", input, target)
        if target._data.dtype != input._data.dtype:
            target = target.to(input.dtype)
        return SoftCrossEntropy.apply(input, target, w, reduction, float(label_smoothing))
    _check_index_target("cross_entropy", input, target, ignore_index)
    return ClassNLL.apply(input, target._data, w, ignore_index, reduction, float(label_smoothing), True)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-input[i, target[i]] (weighted), for log-probabilities input (N, C), (C,) or (N, C, d1, ...)."""
    _check_float_input("nll_loss", input)
    check_tensor(target, "target", "nll_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "nll_loss")
    c = _check_index_target("nll_loss", input, target, ignore_index)
    w = _check_weight("nll_loss", weight, c, input)
    return ClassNLL.apply(input, target._data, w, ignore_index, reduction, 0.0, False)
