"""Argument checks and small helpers shared by the nn.functional modules (not public API)."""
import warnings

from gpunet.tensor import Tensor

REDUCTIONS = ("none", "mean", "sum")


def check_tensor(x, name, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def check_float(x, op, name="input"):
    """PyTorch's floating-point ops refuse integer and bool tensors."""
    check_tensor(x, name, op)
    if x._data.dtype.kind != "f":
        word = _dtype_word(x)
        raise RuntimeError(f'"{op}" not implemented for \'{word}\': {name} must be a floating-point tensor, '
                           f"got {x.dtype}")


def _dtype_word(x):
    return {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}.get(x.dtype.name, x.dtype.name)


def check_same_device(op, *tensors):
    dev = None
    for t in tensors:
        if t is None:
            continue
        if dev is None:
            dev = t._device
        elif t._device is not dev:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                               f"devices, {dev} and {t._device}! ({op})")


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
    return f"gpunet.Size({list(shape)})"


def inplace_apply(fn, input, name, *args):
    """Run fn(input, *args) out of place and write the result into input (F.relu(x, inplace=True))."""
    from gpunet.ops.inplace import inplace
    return inplace(fn, name)(input, *args)
