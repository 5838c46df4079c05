"""Argument checks with PyTorch's messages, shared by ops and nn.functional (not public API)."""
from gpunet.tensor import Tensor


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
