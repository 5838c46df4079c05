"""F.pad: constant (any dims, negative pads crop), reflect / replicate / circular (the last 1-3 dims)."""
from gpunet.autograd.function import Op
from gpunet.nn.functional._common import check_tensor

__all__ = ["pad"]


class ConstantPad(Op):
    _backward_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, a, pairs, value):
        xp = ctx.device.xp
        out_shape, src, dst = _constant_regions(a.shape, pairs)
        out = xp.full(out_shape, value, dtype=a.dtype)
        out[dst] = a[src]
        ctx.a_shape, ctx.src, ctx.dst = a.shape, src, dst
        return out

    @staticmethod
    def backward(ctx, g):
        ga = ctx.device.xp.zeros(ctx.a_shape, dtype=g.dtype)
        ga[ctx.src] = g[ctx.dst]
        return ga, None, None


def _constant_regions(shape, pairs):
    """Output shape and the (source, destination) slices that the input's kept part occupies."""
    out_shape, src, dst = list(shape), [slice(None)] * len(shape), [slice(None)] * len(shape)
    for axis, (before, after) in pairs:
        n = shape[axis]
        out_shape[axis] = n + before + after
        lo, hi = max(-before, 0), n - max(-after, 0)
        src[axis] = slice(lo, max(hi, lo))
        start = max(before, 0)
        dst[axis] = slice(start, start + max(hi - lo, 0))
    return tuple(out_shape), tuple(src), tuple(dst)


class IndexPad(Op):
    """Padding as a gather along each padded axis; the backward is the matching scatter-add."""
    _backward_name = "ReflectionPadBackward0"

    @staticmethod
    def forward(ctx, a, axis_indices):
        xp = ctx.device.xp
        ctx.shapes = []
        for axis, idx in axis_indices:
            ctx.shapes.append(a.shape)
            a = xp.take(a, xp.asarray(idx), axis=axis)
        ctx.axis_indices = axis_indices
        return a

    @staticmethod
    def backward(ctx, g):
        xp = ctx.device.xp
        for (axis, idx), shape in zip(reversed(ctx.axis_indices), reversed(ctx.shapes)):
            out = xp.zeros(shape, dtype=g.dtype)
            ctx.device.backend.scatter_add(out, (slice(None),) * axis + (xp.asarray(idx),), g)
            g = out
        return g, None


def _source_index(n, before, after, mode):
    """For every output position along one axis, the input position it copies."""
    import numpy as np
    o = np.arange(-before, n + after)
    if mode == "reflect":
        o = np.abs(o)
        return np.where(o > n - 1, 2 * (n - 1) - o, o)
    if mode == "replicate":
        return np.clip(o, 0, n - 1)
    return o % n  # circular


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
            axis_indices.append((axis, _source_index(n, b, a, mode)))
    if not axis_indices:
        return input * 1
    return IndexPad.apply(input, axis_indices)
