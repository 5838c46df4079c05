"""Scaled dot-product attention as one Op: softmax(scale * q k^T + mask) v over the last two dims.

The forward calls ``K.attention_forward`` (kernels.cpu: blocked over query rows with BLAS matmuls,
memory O(block x S); kernels.cuda: a fused online-softmax kernel), which returns each query row's
log-sum-exp; the backward calls ``K.attention_backward``, which recomputes the probabilities per block from
it (the FlashAttention scheme: no (L x S) matrix is saved). nn.functional.scaled_dot_product_attention
checks the arguments, makes q/k/v share their batch dims and turns a bool mask into an additive one.

The mask travels to the kernels as (Bm, Lm, Sm) with batch entry b reading mask[(b // mask_div) % Bm]:
its batch dims that are not 1 form one run of q's (materialised to make them one run when they do not),
so an (L, S), (N, 1, L, S) or (N, 1, 1, S) mask is never broadcast to (N, H, L, S).
"""
import math

from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.indexing import where


def canonical_mask(xp, mask, batch, L, S):
    """(mask as a C-contiguous (Bm, Lm, Sm) array, mask_div, the broadcast shape it was taken from)."""
    nd = len(batch) + 2
    shape = (1,) * (nd - mask.ndim) + tuple(mask.shape)
    live = [i for i in range(len(batch)) if shape[i] != 1]
    first, last = (live[0], live[-1] + 1) if live else (len(batch), len(batch))
    run = tuple(batch[first:last])
    wide = (1,) * first + run + (1,) * (len(batch) - last) + shape[-2:]
    m = mask.reshape(shape)
    if wide != shape:  # a 1 inside the run: broadcast the run whole
        m = xp.broadcast_to(m, wide)
    m = xp.ascontiguousarray(m).reshape(math.prod(run), shape[-2], shape[-1])
    return m, math.prod(batch[last:]), wide


class ScaledDotProductAttention(Op):
    """q (..., L, E), k (..., S, E), v (..., S, Ev) with equal batch dims; mask None or additive,
    broadcastable to (..., L, S) (a float Tensor gets a gradient); scale a float; is_causal: key j > query i
    left out."""
    _backward_name = "ScaledDotProductAttentionBackward0"

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, is_causal):
        xp, K = ctx.device.xp, ctx.device.K
        batch, (L, E), (S, Ev) = q.shape[:-2], q.shape[-2:], v.shape[-2:]
        B = math.prod(batch)
        m, div, wide = (None, 1, None) if mask is None else canonical_mask(xp, mask, batch, L, S)
        out, lse = K.attention_forward(q.reshape(B, L, E), k.reshape(B, S, E), v.reshape(B, S, Ev), m, div,
                                       scale, is_causal)
        out = out.reshape(batch + (L, Ev))
        ctx.save_for_backward(q, k, v, out, lse, m, mask)  # mask: the input itself, for create_graph
        ctx.args = (div, wide, None if mask is None else mask.shape, scale, is_causal)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse, m, _ = ctx.saved_tensors
        div, wide, mask_shape, scale, is_causal = ctx.args
        K = ctx.device.K
        nq, nk, nv, nm = ctx.needs_input_grad[:4]
        batch, (L, E), (S, Ev) = q.shape[:-2], q.shape[-2:], v.shape[-2:]
        B = math.prod(batch)
        gq, gk, gv, gm = K.attention_backward(
            g.reshape(B, L, Ev), q.reshape(B, L, E), k.reshape(B, S, E), v.reshape(B, S, Ev),
            out.reshape(B, L, Ev), lse, m, div, scale, is_causal, (nq, nk, nv, nm))
        if gm is not None:
            full = (1,) * (len(wide) - len(mask_shape)) + tuple(mask_shape)
            axes = tuple(i for i, (a, b) in enumerate(zip(full, wide)) if a == 1 and b != 1)
            gm = gm.reshape(wide)
            if axes:
                gm = gm.sum(axis=axes, keepdims=True)
            gm = gm.reshape(mask_shape)
        return (None if gq is None else gq.reshape(q.shape), None if gk is None else gk.reshape(k.shape),
                None if gv is None else gv.reshape(v.shape), gm, None, None)

    @staticmethod
    def backward_graph(ctx, g):
        """The gradients recomputed from q, k, v (and a float mask) with differentiable ops: the (L x S)
        probabilities are materialised, on this path only."""
        q, k, v, _, _, _, mask = saved(ctx)
        _, _, mask_shape, scale, is_causal = ctx.args
        xp = ctx.device.xp
        L, S = q._data.shape[-2], k._data.shape[-2]
        scores = (q @ k.transpose(-2, -1)) * scale
        if mask is not None:
            scores = scores + mask
        if is_causal:  # key j > query i left out (top-left aligned)
            scores = scores + const(ctx, xp.where(xp.tri(L, S, dtype=bool), 0.0, -math.inf), q._data.dtype)
        # rows with no key give 0, as the kernels: softmax of zeros there, then times 0 (no NaN)
        live = const(ctx, (scores._data != -math.inf).any(axis=-1, keepdims=True))
        p = where(live, scores, 0.0).softmax(-1) * live.to(q.dtype)
        gv = p.transpose(-2, -1) @ g
        gp = g @ v.transpose(-2, -1)
        gs = p * (gp - (gp * p).sum(-1, keepdim=True))  # softmax's backward
        gq = (gs @ k) * scale
        gk = (gs.transpose(-2, -1) @ q) * scale
        gm = None
        if ctx.needs_input_grad[3]:
            gm = unbroadcast_t(gs, mask_shape)
        return gq, gk, gv, gm, None, None
