"""VectorNorm: ||x||_p along one dim as an Op (F.normalize, cosine_similarity, pairwise_distance)."""
import math

from gpunet.autograd.function import Op


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
