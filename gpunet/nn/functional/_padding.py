"""F.pad: constant (any dims, negative pads crop), reflect / replicate / circular (the last 1-3 dims).

The arguments are checked here; the Ops are gpunet.ops.padding's.
"""
from gpunet.nn.functional._common import check_tensor
from gpunet.ops.padding import ConstantPad, IndexPad, source_index

__all__ = ["pad"]


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 dims: pad = (last_left, last_right, 2nd_last_left, 2nd_last_right, ...)."""
    check_tensor(input, "input", "pad")
    pad = tuple(int(p) for p in pad)
    nd = input._data.ndim
    if len(pad) % 2:
        raise ValueError(f"pad(): padding length must be divisible by 2, got {len(pad)} ({list(pad)})")
    k = len(pad) // 2
    if k > nd:
        raise ValueError(f"pad(): padding length {len(pad)} is too large for a {nd}-D input (at most "
                         f"{2 * nd})")
    pairs = [(nd - 1 - i, (pad[2 * i], pad[2 * i + 1])) for i in range(k)]
    if mode == "constant":
        for axis, (b, a) in pairs:
            if input._data.shape[axis] + b + a < 0:
                raise RuntimeError(f"pad(): the input size {input._data.shape[axis]} at dimension {axis} "
                                   f"plus padding ({b}, {a}) is negative")
        return ConstantPad.apply(input, pairs, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad(): mode {mode!r} is not supported (expected 'constant', 'reflect', "
                                  f"'replicate' or 'circular')")
    if value not in (None, 0):
        raise ValueError(f"pad(): padding mode {mode!r} doesn't take in value argument")
    if k > 3 or nd not in (k + 1, k + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {nd}D input tensor. "
                                  "Supported combinations for non-constant padding: 2D or 3D input with "
                                  "padding size 2, 3D or 4D input with padding size 4, 4D or 5D input with "
                                  f"padding size 6 (got input of shape {list(input._data.shape)}, mode "
                                  f"{mode!r})")
    axis_indices = []
    for axis, (b, a) in pairs:
        n = input._data.shape[axis]
        if b < 0 or a < 0:
            raise RuntimeError(f"pad(): negative padding ({b}, {a}) is only supported in constant mode")
        if mode == "reflect" and (b >= n or a >= n):
            raise RuntimeError("Argument #4: Padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({b}, {a}) at dimension {axis} of input "
                               f"{list(input._data.shape)}")
        if mode == "circular" and (b > n or a > n):
            raise RuntimeError(f"pad(): circular padding ({b}, {a}) at dimension {axis} must not exceed the "
                               f"input size {n} (input {list(input._data.shape)})")
        if mode == "replicate" and n == 0:
            raise RuntimeError(f"pad(): replicate padding needs a non-empty dimension {axis}")
        if b or a:
            axis_indices.append((axis, source_index(n, b, a, mode)))
    if not axis_indices:
        return input * 1
    return IndexPad.apply(input, axis_indices)
