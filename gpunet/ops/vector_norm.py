"""VectorNorm: ||x||_p along one dim as an Op (F.normalize, cosine_similarity, pairwise_distance)."""
import math

from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved


class VectorNorm(Op):
    """||x||_p along dim (keepdim); the gradient at a zero vector is zero, as PyTorch's."""
    _backward_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        xp = ctx.device.xp
        a = abs(x)
        if p == 2:
            n = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        elif p == 1:
            n = a.sum(axis=dim, keepdims=True)
        elif p == math.inf:
            n = a.max(axis=dim, keepdims=True)
        else:
            n = (a ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, n)
        ctx.consts = (p, dim, keepdim)
        return n if keepdim else n.squeeze(dim)

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved_tensors
        p, dim, keepdim = ctx.consts
        xp = ctx.device.xp
        if not keepdim:
            g = xp.expand_dims(g, dim)
        safe = xp.where(n == 0, 1, n)
        if p == 2:
            d = x / safe
        elif p == 1:
            d = xp.sign(x)
        elif p == math.inf:
            hit = abs(x) == n
            d = xp.sign(x) * hit / hit.sum(axis=dim, keepdims=True)
        else:
            d = xp.sign(x) * abs(x) ** (p - 1) / safe ** (p - 1)
        return xp.where(n == 0, 0, g * d).astype(x.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, _ = saved(ctx)
        p, dim, keepdim = ctx.consts
        xp = ctx.device.xp
        dtype = g._data.dtype
        n = VectorNorm.apply(x, p, dim, True)  # recomputed from x (with its dim), so the graph reaches it
        if not keepdim:
            g = g.unsqueeze(dim)
        zero = const(ctx, n._data == 0, dtype)
        sign = const(ctx, xp.sign(x._data), dtype)
        if p == 2:
            d = x / (n + zero)  # n + zero: 1 where the norm is 0, where the gradient is 0 (as in backward)
        elif p == 1:
            d = sign
        elif p == math.inf:
            hit = abs(x._data) == n._data
            d = const(ctx, xp.sign(x._data) * hit / hit.sum(axis=dim, keepdims=True), dtype)
        else:
            d = sign * x.abs() ** (p - 1) / (n + zero) ** (p - 1)
        return g * d * (1 - zero), None, None, None
