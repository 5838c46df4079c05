"""Embedding: a gather of weight rows as an Op; backward scatter-adds rows, skipping padding_idx."""
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const
from gpunet.ops.indexing import IndexBackward


class Embedding(Op):
    _backward_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        ctx.save_for_backward(indices)
        ctx.consts = (weight.shape, padding_idx, scale_grad_by_freq)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        shape, padding_idx, by_freq = ctx.consts
        xp = ctx.device.xp
        flat = indices.reshape(-1)
        rows = g.reshape(-1, shape[1])
        if by_freq:
            counts = xp.bincount(flat, minlength=shape[0])
            rows = rows / counts[flat][:, None].astype(rows.dtype)
        gw = xp.zeros(shape, dtype=g.dtype)
        ctx.device.backend.scatter_add(gw, flat, rows)
        if padding_idx is not None:
            gw[padding_idx] = 0  # the padding row never receives a gradient
        return gw, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        """The same scatter-add through IndexBackward (whose backward gathers rows again); the frequency
        scale and the padding row are constants."""
        (indices,) = ctx.saved_tensors
        shape, padding_idx, by_freq = ctx.consts
        xp = ctx.device.xp
        flat = indices.reshape(-1)
        rows = g.reshape(-1, shape[1])
        if by_freq:
            counts = xp.bincount(flat, minlength=shape[0])
            rows = rows / const(ctx, counts[flat][:, None], g._data.dtype)
        if padding_idx is not None:
            keep = (flat != (padding_idx % shape[0]))[:, None]
            rows = rows * const(ctx, keep, g._data.dtype)
        return IndexBackward.apply(rows, shape, (flat,), True), None, None, None
