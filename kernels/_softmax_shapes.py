"""Argument checks of the softmax and cross-entropy kernels, shared by kernels.cpu and kernels.cuda.

Softmax kernels work along one axis of an array of any shape (the last by default); the cross-entropy
kernels take logits (M, C) with class-index targets (M,), or logits (N, C, L) with targets (N, L), and
optional class weights (C,).
"""
import math
import operator

from kernels._checks import check_float, is_float


def rows_and_classes(x, name, op):
    """(rows, classes) of an array softmaxed along its last axis."""
    check_float(x, name, op)
    if x.ndim == 0:
        raise ValueError(f"{op}: {name} must have at least 1 dimension, got a 0-D array")
    c = x.shape[-1]
    return (x.size // c if c else 0), c


def outer_classes_inner(x, axis, name, op):
    """(outer, classes, inner) of an array softmaxed along axis: the products of the dims before it, its
    length, the product of the dims after it."""
    rows_and_classes(x, name, op)
    axis = operator.index(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for {name} of shape {tuple(x.shape)}")
    axis %= x.ndim
    return math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])


def check_pair(op, grad_y, y, axis):
    """grad_y and the forward's output y: one float dtype, one shape; returns (outer, classes, inner)."""
    check_float(y, "y", op)
    if grad_y.dtype != y.dtype or tuple(grad_y.shape) != tuple(y.shape):
        raise ValueError(f"{op}: grad_y must have y's shape and dtype, got grad_y {tuple(grad_y.shape)} "
                         f"{grad_y.dtype} and y {tuple(y.shape)} {y.dtype}")
    return outer_classes_inner(y, axis, "y", op)


def check_cross_entropy(op, x, target, weight):
    """(M, C) of logits x (M, C) with integer targets (M,), or of x (N, C, L) with targets (N, L) (M = N L);
    weight None or (C,) of x's dtype."""
    check_float(x, "x", op)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: x must be (rows, classes) or (batch, classes, positions), got shape "
                         f"{tuple(x.shape)}")
    c = x.shape[1]
    expected = x.shape[:1] + x.shape[2:]
    if target.dtype.kind not in "iu" or tuple(target.shape) != expected:
        raise ValueError(f"{op}: target must be an integer array of shape {expected}, got "
                         f"{tuple(target.shape)} {target.dtype}")
    if weight is not None and (tuple(weight.shape) != (c,) or weight.dtype != x.dtype):
        raise ValueError(f"{op}: weight must have shape ({c},) and x's dtype {x.dtype}, got "
                         f"{tuple(weight.shape)} {weight.dtype}")
    return math.prod(expected), c


def check_cross_entropy_backward(op, grad_loss, x, target, stats, weight):
    m, c = check_cross_entropy(op, x, target, weight)
    if tuple(grad_loss.shape) != tuple(target.shape) or grad_loss.dtype != x.dtype:
        raise ValueError(f"{op}: grad_loss must have target's shape {tuple(target.shape)} and x's dtype "
                         f"{x.dtype}, got {tuple(grad_loss.shape)} {grad_loss.dtype}")
    if tuple(stats.shape) != tuple(target.shape) + (2,) or not is_float(stats.dtype):
        raise ValueError(f"{op}: stats must be the forward's {tuple(target.shape) + (2,)} array, got "
                         f"{tuple(stats.shape)}")
    return m, c
