"""Argument checks of the softmax and cross-entropy kernels, shared by kernels.cpu and kernels.cuda.

Softmax kernels work along the last axis of an array of any shape (rows = the product of the others);
the cross-entropy kernels take logits (M, C), class-index targets (M,) and optional class weights (C,).
"""
from kernels._checks import check_float, is_float


def rows_and_classes(x, name, op):
    """(rows, classes) of an array softmaxed along its last axis."""
    check_float(x, name, op)
    if x.ndim == 0:
        raise ValueError(f"{op}: {name} must have at least 1 dimension, got a 0-D array")
    c = x.shape[-1]
    return (x.size // c if c else 0), c


def check_pair(op, grad_y, y):
    """grad_y and the forward's output y: one float dtype, one shape."""
    check_float(y, "y", op)
    if grad_y.dtype != y.dtype or tuple(grad_y.shape) != tuple(y.shape):
        raise ValueError(f"{op}: grad_y must have y's shape and dtype, got grad_y {tuple(grad_y.shape)} "
                         f"{grad_y.dtype} and y {tuple(y.shape)} {y.dtype}")
    return rows_and_classes(y, "y", op)


def check_cross_entropy(op, x, target, weight):
    """(M, C) of logits x (M, C) with integer targets (M,) and weight None or (C,) of x's dtype."""
    check_float(x, "x", op)
    if x.ndim != 2:
        raise ValueError(f"{op}: x must be 2-D (rows, classes), got shape {tuple(x.shape)}")
    m, c = x.shape
    if target.dtype.kind not in "iu" or tuple(target.shape) != (m,):
        raise ValueError(f"{op}: target must be an integer array of shape ({m},), got {tuple(target.shape)} "
                         f"{target.dtype}")
    if weight is not None and (tuple(weight.shape) != (c,) or weight.dtype != x.dtype):
        raise ValueError(f"{op}: weight must have shape ({c},) and x's dtype {x.dtype}, got "
                         f"{tuple(weight.shape)} {weight.dtype}")
    return m, c


def check_cross_entropy_backward(op, grad_loss, x, target, stats, weight):
    m, c = check_cross_entropy(op, x, target, weight)
    if tuple(grad_loss.shape) != (m,) or grad_loss.dtype != x.dtype:
        raise ValueError(f"{op}: grad_loss must have shape ({m},) and x's dtype {x.dtype}, got "
                         f"{tuple(grad_loss.shape)} {grad_loss.dtype}")
    if tuple(stats.shape) != (m, 2) or not is_float(stats.dtype):
        raise ValueError(f"{op}: stats must be the forward's ({m}, 2) array, got {tuple(stats.shape)}")
    return m, c
