"""Padding Ops: constant padding (negative pads crop) and index padding (reflect, replicate, circular).

IndexPad gathers along each padded axis with indices from source_index; its backward scatter-adds. Both
move the unpadded middle as one slice and the border one position at a time (reflect-padding a
16x64x32x32 batch by 1 on both sides of H and W, two threads: forward 0.88 ms through two takes,
forward and backward 25 ms with a scatter-add over every position; PyTorch 0.18 and 1.6).
"""
import itertools

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
        ctx.shapes, shape = [], a.shape  # the input shape of each axis' step
        for axis, idx in axis_indices:
            ctx.shapes.append(shape)
            shape = shape[:axis] + (len(idx),) + shape[axis + 1:]
        ctx.axis_indices = axis_indices
        middles = [_middle(idx, ctx.shapes[i][axis]) for i, (axis, idx) in enumerate(axis_indices)]
        if None in middles or len({axis for axis, _ in axis_indices}) < len(axis_indices):
            for axis, idx in axis_indices:
                a = ctx.device.xp.take(a, ctx.device.xp.asarray(idx), axis=axis)
            return a
        return _padded(ctx.device.xp, a, axis_indices, middles)

    @staticmethod
    def backward(ctx, g):
        for (axis, idx), shape in zip(reversed(ctx.axis_indices), reversed(ctx.shapes)):
            g = _scatter_add_axis(ctx.device, g, axis, idx, shape)
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


# Border positions (before + after) moved one slice each up to this many; beyond, take / scatter-add.
_BORDER_SLICES_MAX = 64


def _middle(idx, n):
    """Where idx (output position -> input position along one axis) holds 0, 1, ..., n - 1 in a row: the
    unpadded middle of the output; None if nowhere (or the border is too wide for one slice per position)."""
    if len(idx) - n > _BORDER_SLICES_MAX:
        return None
    for j0 in np.flatnonzero(idx == 0):
        if j0 + n <= len(idx) and np.array_equal(idx[j0:j0 + n], np.arange(n)):
            return int(j0)
    return None


def _border(idx, j0, n):
    return itertools.chain(range(j0), range(j0 + n, len(idx)))


def _padded(xp, a, axis_indices, middles):
    """a padded along each (axis, idx) at once: one output, a copied into its middle, then the border
    positions of the axes from the last to the first, each a slice copied from the output itself (the
    axes already done are whole by then)."""
    shape, inner = list(a.shape), [slice(None)] * a.ndim
    for (axis, idx), j0 in zip(axis_indices, middles):
        shape[axis], inner[axis] = len(idx), slice(j0, j0 + a.shape[axis])
    out = xp.empty(tuple(shape), dtype=a.dtype)
    out[tuple(inner)] = a
    for (axis, idx), j0 in reversed(list(zip(axis_indices, middles))):
        at = list(inner)
        for j in _border(idx, j0, a.shape[axis]):
            at[axis] = j
            target = tuple(at)
            at[axis] = j0 + int(idx[j])
            out[target] = out[tuple(at)]
        inner[axis] = slice(None)
    return out


def _scatter_add_axis(device, g, axis, idx, shape):
    """The gradient of _gather_axis: g's positions summed into the input positions they copied."""
    n, pre, xp = shape[axis], (slice(None),) * axis, device.xp
    j0 = _middle(idx, n)
    if j0 is None:
        out = xp.zeros(shape, dtype=g.dtype)
        device.backend.scatter_add(out, pre + (xp.asarray(idx),), g)
        return out
    out = g[pre + (slice(j0, j0 + n),)].copy()
    for j in _border(idx, j0, n):
        out[pre + (int(idx[j]),)] += g[pre + (j,)]
    return out
