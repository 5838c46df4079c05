"""Loss functions (torch.nn.functional): regression, binary, KL and margin losses; cross_entropy/nll in _nll.

The common losses are fused Ops (gpunet.ops.loss) that compute the per-element loss and its reduction
together; the composite losses are built from other ops. reduction is 'mean' | 'sum' | 'none'
everywhere; the deprecated size_average/reduce flags map onto it with PyTorch's warning.
"""
import math
import warnings

import numpy as np

from gpunet.amp import _policy as _amp
from gpunet.autograd.grad_mode import no_grad
from gpunet.nn.functional._common import (check_float, check_reduction, check_same_device, check_tensor,
                                          legacy_reduction, reduce_loss, size_str)
from gpunet.nn.functional._nll import cross_entropy, nll_loss
from gpunet.nn.functional.activation import logsigmoid, softplus
from gpunet.nn.functional.normalization import pairwise_distance
from gpunet.ops.elementwise import clamp_min, log
from gpunet.ops.indexing import where
from gpunet.ops.loss import BinaryCrossEntropy, BinaryCrossEntropyWithLogits, KLDiv, Regression

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "multilabel_soft_margin_loss", "triplet_margin_loss"]


def _regression(input, target, kind, param, size_average, reduce, reduction, op):
    if _amp.state.on:  # autocast
        input, target = _amp.cast(op, input, target)
    check_float(input, op)
    check_tensor(target, "target", op)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, op)
    check_same_device(op, input, target)
    if target._data.shape != input._data.shape:
        warnings.warn(f"Using a target size ({size_str(target._data.shape)}) that is different to the input "
                      f"size ({size_str(input._data.shape)}). This will likely lead to incorrect results "
                      "due to broadcasting. Please ensure they have the same "
                      "size.", UserWarning, stacklevel=3)
        try:
            np.broadcast_shapes(input._data.shape, target._data.shape)
        except ValueError:
            raise RuntimeError(f"{op}: The size of tensor a ({list(input._data.shape)}) must match the size "
                               f"of tensor b ({list(target._data.shape)}): they cannot be "
                               "broadcast") from None
    if target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)
    return Regression.apply(input, target, kind, param, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2, reduced."""
    if weight is not None:
        raise NotImplementedError("mse_loss(weight=...) is not supported by gpunet")
    return _regression(input, target, "mse", None, size_average, reduce, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|, reduced."""
    if weight is not None:
        raise NotImplementedError("l1_loss(weight=...) is not supported by gpunet")
    return _regression(input, target, "l1", None, size_average, reduce, reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is the l1 loss)."""
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    if beta == 0:
        return _regression(input, target, "l1", None, size_average, reduce, reduction, "smooth_l1_loss")
    return _regression(input, target, "smooth_l1", float(beta), size_average, reduce, reduction,
                       "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta)."""
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    if weight is not None:
        raise NotImplementedError("huber_loss(weight=...) is not supported by gpunet")
    return _regression(input, target, "huber", float(delta), None, None, reduction, "huber_loss")


# ---- binary cross entropy ----------------------------------------------------------------------------------


def _binary_args(op, input, target, weight, size_average, reduce, reduction):
    check_float(input, op)
    check_tensor(target, "target", op)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, op)
    if target._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: Found dtype {target.dtype} but expected a floating-point target (got "
                           "integer labels? use target.float())")
    check_same_device(op, input, target, weight)
    if target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)
    if weight is not None:
        check_tensor(weight, "weight", op)
        try:
            np.broadcast_shapes(weight._data.shape, input._data.shape)
        except ValueError:
            raise RuntimeError(f"{op}: weight of shape {list(weight._data.shape)} cannot be broadcast to "
                               f"the input's shape {list(input._data.shape)}") from None
        if weight._data.dtype != input._data.dtype:
            weight = weight.to(input.dtype)
    return target, weight, reduction


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross entropy of probabilities input in [0, 1] against target of the same shape."""
    target, weight, reduction = _binary_args("binary_cross_entropy", input, target, weight, size_average,
                                             reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Using a target size ({size_str(target._data.shape)}) that is different to the "
                         f"input size ({size_str(input._data.shape)}) is deprecated. Please ensure they "
                         "have the same size.")
    x = input._data
    input._device.backend.device_assert(
        ("binary_cross_entropy", "input"), (x < 0) | (x > 1), x,
        lambda v: RuntimeError(f"all elements of input should be between 0 and 1 (found {v}; "
                               "binary_cross_entropy takes probabilities: use "
                               "binary_cross_entropy_with_logits for logits)"))
    return BinaryCrossEntropy.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """sigmoid + binary cross entropy in one numerically stable step; pos_weight weighs positives."""
    op = "binary_cross_entropy_with_logits"
    if _amp.state.on:  # autocast
        input, target, weight, pos_weight = _amp.cast(op, input, target, weight, pos_weight)
    target, weight, reduction = _binary_args(op, input, target, weight, size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Target size ({size_str(target._data.shape)}) must be the same as input size "
                         f"({size_str(input._data.shape)})")
    if pos_weight is not None:
        check_tensor(pos_weight, "pos_weight", op)
        check_same_device(op, input, pos_weight)
        try:
            np.broadcast_shapes(pos_weight._data.shape, input._data.shape)
        except ValueError:
            raise RuntimeError(f"{op}: pos_weight of shape {list(pos_weight._data.shape)} cannot be "
                               f"broadcast to the input's shape {list(input._data.shape)} (it is indexed by "
                               "the last dim)") from None
        if pos_weight._data.dtype != input._data.dtype:
            pos_weight = pos_weight.to(input.dtype)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction)


# ---- KL divergence ---------------------------------------------------------------------------------------


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise; input holds log-probabilities. reduction may be 'batchmean'."""
    if _amp.state.on:  # autocast
        input, target = _amp.cast("kl_div", input, target)
    check_float(input, "kl_div")
    check_float(target, "kl_div", "target")
    check_same_device("kl_div", input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support "
                      "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                      "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                      "major release.",
                      UserWarning, stacklevel=2)
    if reduction != "batchmean":
        check_reduction(reduction, "kl_div")
    if target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)
    return KLDiv.apply(input, target, bool(log_target), reduction)


# ---- composite losses ------------------------------------------------------------------------------------
def _reduction_arg(size_average, reduce, reduction, op):
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, op)
    return reduction


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target * input (log_input), or input - target * log(input + eps); + Stirling if full."""
    reduction = _reduction_arg(size_average, reduce, reduction, "poisson_nll_loss")
    check_float(input, "poisson_nll_loss")
    loss = input.exp() - target * input if log_input else input - target * log(input + eps)
    if full:
        safe = where(target > 1, target, 1.0)
        stirling = safe * log(safe) - safe + 0.5 * log(2 * math.pi * safe)
        loss = loss + where(target > 1, stirling, 0.0)
    return reduce_loss(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) if full)."""
    check_float(input, "gaussian_nll_loss")
    check_tensor(var, "var", "gaussian_nll_loss")
    check_reduction(reduction, "gaussian_nll_loss")
    if var._data.shape != input._data.shape:
        if input._data.shape[:-1] == var._data.shape:
            var = var.unsqueeze(-1)
        elif not (input._data.shape[:-1] == var._data.shape[:-1] and var._data.shape[-1:] == (1,)):
            raise ValueError(f"var is of incorrect size: input {list(input._data.shape)}, var "
                             f"{list(var._data.shape)}")
    var._device.backend.device_assert(("gaussian_nll_loss", "var"), var._data < 0, var._data,
                                      lambda v: ValueError(f"var has negative entry/entries (found {v})"))
    with no_grad():  # PyTorch clamps var for stability without letting the clamp stop the gradient
        clamped = clamp_min(var.detach(), eps)
    var = var + (clamped - var.detach())
    loss = 0.5 * (log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce_loss(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target == 1; max(0, cos(x1, x2) - margin) where target == -1."""
    reduction = _reduction_arg(size_average, reduce, reduction, "cosine_embedding_loss")
    dim = target._data.ndim
    eps = 1e-12
    prod = (input1 * input2).sum(dim)
    mag = ((input1 * input1).sum(dim) + eps) * ((input2 * input2).sum(dim) + eps)
    cos = prod / mag.sqrt()
    zeros = cos * 0
    loss = where(target == 1, 1 - cos, zeros) + where(target == -1, clamp_min(cos - margin, 0), zeros)
    return reduce_loss(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _reduction_arg(size_average, reduce, reduction, "margin_ranking_loss")
    if not (input1._data.ndim == input2._data.ndim == target._data.ndim):
        raise RuntimeError("margin_ranking_loss : All input tensors should have same dimension but got "
                           f"sizes: input1: {size_str(input1.shape)}, input2: {size_str(input2.shape)}, "
                           f"target: {size_str(target.shape)} ")
    return reduce_loss(clamp_min(-target * (input1 - input2) + margin, 0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target == 1, max(0, margin - input) where target == -1."""
    reduction = _reduction_arg(size_average, reduce, reduction, "hinge_embedding_loss")
    zeros = input * 0
    loss = where(target != 1, clamp_min(margin - input, 0), zeros) + where(target != -1, input, zeros)
    return reduce_loss(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input))."""
    reduction = _reduction_arg(size_average, reduce, reduction, "soft_margin_loss")
    return reduce_loss(softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Mean over classes of -(t log sigmoid(x) + (1 - t) log sigmoid(-x)) (times weight)."""
    reduction = _reduction_arg(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(dim=input._data.ndim - 1) / input._data.shape[-1]
    return reduce_loss(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) with d the pairwise p-norm distance."""
    reduction = _reduction_arg(size_average, reduce, reduction, "triplet_margin_loss")
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: expected margin to be greater than 0, got {margin} instead")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return reduce_loss(clamp_min(margin + d_pos - d_neg, 0), reduction)
