"""Argument checks and small helpers shared by the nn.functional modules (not public API).

check_tensor, check_float and check_same_device live in gpunet.ops._checks (ops need them too).
"""
import warnings

from gpunet import _naming

from gpunet.ops._checks import check_float, check_same_device, check_tensor  # noqa: F401  (re-exported)
from gpunet.ops.inplace import inplace

REDUCTIONS = ("none", "mean", "sum")


def ntuple(value, n, name, op):
    """An int or a length-n sequence of ints -> tuple of n ints."""
    if isinstance(value, bool):
        raise TypeError(f"{op}(): {name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}(): {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(out) == 1:
        return out * n
    if len(out) != n:
        raise ValueError(f"{op}(): {name} must be an int or a tuple of {n} ints, got {value!r}")
    return out


def legacy_reduction(size_average, reduce, reduction, emit_warning=True):
    """Map the deprecated size_average/reduce flags to a reduction string, as PyTorch does."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        out = "mean"
    elif reduce:
        out = "sum"
    else:
        out = "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{out}' "
                      "instead.",
                      UserWarning, stacklevel=3)
    return out


def check_reduction(reduction, op):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}(): {reduction!r} is not a valid value for reduction (expected one of "
                         f"'none', 'mean', 'sum')")


def reduce_loss(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def size_str(shape):
    return _naming.public(f"Size({list(shape)})")


def inplace_apply(fn, input, name, *args):
    """Run fn(input, *args) out of place and write the result into input (F.relu(x, inplace=True))."""
    return inplace(fn, name)(input, *args)
