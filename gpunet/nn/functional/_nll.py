"""cross_entropy and nll_loss: argument checks with PyTorch's messages over the Ops in gpunet.ops.nll
(one for class-index targets, one for class-probability targets).

Shapes: input (N, C), (C,) or (N, C, d1, ...); class-index target (N,), () or (N, d1, ...).
"""
from gpunet.amp import _policy as _amp
from gpunet.nn.functional._common import check_reduction, check_same_device, check_tensor, legacy_reduction
from gpunet.ops.nll import ClassNLL, CrossEntropyRows, SoftCrossEntropy, fused_cross_entropy

__all__ = ["cross_entropy", "nll_loss"]


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
    if _amp.state.on:  # autocast
        input, target, weight = _amp.cast("cross_entropy", input, target, weight)
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
    if fused_cross_entropy(input._data):
        return CrossEntropyRows.apply(input, target._data, w, ignore_index, reduction, float(label_smoothing))
    return ClassNLL.apply(input, target._data, w, ignore_index, reduction, float(label_smoothing), True)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-input[i, target[i]] (weighted), for log-probabilities input (N, C), (C,) or (N, C, d1, ...)."""
    if _amp.state.on:  # autocast
        input, weight = _amp.cast("nll_loss", input, weight)
    _check_float_input("nll_loss", input)
    check_tensor(target, "target", "nll_loss")
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "nll_loss")
    c = _check_index_target("nll_loss", input, target, ignore_index)
    w = _check_weight("nll_loss", weight, c, input)
    return ClassNLL.apply(input, target._data, w, ignore_index, reduction, 0.0, False)
