"""Padding Ops: constant padding (negative pads crop) and index padding (reflect, replicate, circular).

IndexPad gathers along each padded axis with indices from source_index; its backward scatter-adds.
"""
import numpy as np

from gpunet.autograd.function import Op
from gpunet.ops.indexing import Index, IndexBackward


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

    @staticmethod
    def backward_graph(ctx, g):
        kept = Index.apply(g, ctx.dst, False)
        return IndexBackward.apply(kept, ctx.a_shape, ctx.src, False), None, None


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

    @staticmethod
    def backward_graph(ctx, g):
        xp = ctx.device.xp
        for (axis, idx), shape in zip(reversed(ctx.axis_indices), reversed(ctx.shapes)):
            g = IndexBackward.apply(g, shape, (slice(None),) * axis + (xp.asarray(idx),), True)
        return g, None


def source_index(n, before, after, mode):
    """For every output position along one axis, the input position it copies."""
    o = np.arange(-before, n + after)
    if mode == "reflect":
        o = np.abs(o)
        return np.where(o > n - 1, 2 * (n - 1) - o, o)
    if mode == "replicate":
        return np.clip(o, 0, n - 1)
    return o % n  # circular
