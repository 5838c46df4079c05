"""Resample: nearest and (bi/tri)linear resampling as one Op, and the per-axis plans it runs.

Resampling is separable: along each spatial axis, output o reads input positions i0[o], i1[o] with
weights (1 - lam[o], lam[o]). The forward gathers; the backward applies the transposed (out x in)
weight matrix along that axis with one matmul. Source indices follow PyTorch's formulas (including
computing them in float32 for float32 inputs), so results match it exactly.
"""
import numpy as np

from gpunet.autograd.function import Op


class Resample(Op):
    """plans: [(axis, i0, i1, lam, matrix)]; lam None means nearest (one source per output)."""
    _backward_name = "UpsampleBackward0"

    @staticmethod
    def forward(ctx, x, plans):
        ctx.plans = plans
        return _resample(ctx.device.xp, x, plans)

    @staticmethod
    def backward(ctx, g):
        return _resample_transposed(ctx.device.xp, g, ctx.plans), None

    @staticmethod
    def backward_graph(ctx, g):
        return ResampleBackward.apply(g, ctx.plans), None


class ResampleBackward(Op):
    """Resample's backward as an Op (the create_graph walk): it is linear in g, the transpose of the
    resampling, so its own backward is Resample's forward and the pair differentiates forever."""
    _backward_name = "UpsampleBackwardBackward0"

    @staticmethod
    def forward(ctx, g, plans):
        ctx.plans = plans
        return _resample_transposed(ctx.device.xp, g, plans)

    @staticmethod
    def backward(ctx, gg):
        return _resample(ctx.device.xp, gg, ctx.plans), None

    @staticmethod
    def backward_graph(ctx, gg):
        return Resample.apply(gg, ctx.plans), None


def _resample(xp, x, plans):
    """x resampled along each plan's axis (a gather of one or two sources)."""
    for axis, i0, i1, lam, _ in plans:
        a = xp.take(x, xp.asarray(i0), axis=axis)
        if lam is not None:
            bshape = [1] * x.ndim
            bshape[axis] = lam.size
            lam_b = xp.asarray(lam.astype(x.dtype)).reshape(bshape)
            a *= 1 - lam_b
            a += xp.take(x, xp.asarray(i1), axis=axis) * lam_b
        x = a
    return x


def _resample_transposed(xp, g, plans):
    """The transpose of _resample: g times each axis's (out x in) weight matrix, last axis first."""
    for axis, _, _, _, matrix in reversed(plans):
        m = xp.asarray(matrix.astype(g.dtype))  # (out, in)
        g = xp.moveaxis(xp.moveaxis(g, axis, -1) @ m, -1, axis)
    return xp.ascontiguousarray(g)


def nearest_plan(n_in, n_out, scale, exact):
    if not exact and n_out == 2 * n_in:
        idx = np.arange(n_out) >> 1
    elif not exact and n_out == n_in:
        idx = np.arange(n_out)
    else:
        s = np.float32(1.0 / scale if scale else n_in / n_out)  # PyTorch computes these in float
        dst = np.arange(n_out, dtype=np.float32)
        src = np.floor((dst + np.float32(0.5)) * s if exact else dst * s)
        idx = np.minimum(src.astype(np.int64), n_in - 1)
    return idx, None, None


def linear_plan(n_in, n_out, scale, align_corners, dtype):
    ft = np.float32 if dtype == np.float32 or dtype == np.float16 else np.float64
    dst = np.arange(n_out, dtype=ft)
    if align_corners:
        s = ft((n_in - 1) / (n_out - 1)) if n_out > 1 else ft(0)
        src = dst * s
    else:
        s = ft(1.0 / scale) if scale else ft(n_in) / ft(n_out)
        src = np.maximum(s * (dst + ft(0.5)) - ft(0.5), ft(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    lam = src - i0.astype(ft)
    return i0, i1, lam


def plan_matrix(n_in, i0, i1, lam):
    m = np.zeros((len(i0), n_in))
    rows = np.arange(len(i0))
    if lam is None:
        m[rows, i0] = 1
    else:
        np.add.at(m, (rows, i0), 1 - lam.astype(np.float64))
        np.add.at(m, (rows, i1), lam.astype(np.float64))
    return m
