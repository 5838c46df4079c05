"""Linear: y = x @ W^T + b as one fused Op (the layer's hot path); F.linear checks and calls it."""
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import saved


class Linear(Op):
    """y = x @ W^T + b for x of shape (..., in); the batch dims are folded into one GEMM."""
    _backward_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        y = ctx.device.K.matmul(x2, w.T)
        if b is not None:
            y += b
        ctx.save_for_backward(x, w)  # the input itself, so an in-place change to it is caught at backward
        return y.reshape(x.shape[:-1] + (w.shape[0],)) if x.ndim != 2 else y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        K = ctx.device.K
        nx, nw, nb = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = K.matmul(g2, w).reshape(x.shape) if nx else None
        gw = K.matmul(g2.T, x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x) if nw else None
        gb = g2.sum(axis=0) if nb else None
        return gx, gw, gb

    @staticmethod
    def backward_graph(ctx, g):
        x, w = saved(ctx)
        nx, nw, nb = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = (g2 @ w).reshape(x.shape) if nx else None
        gw = g2.t() @ (x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x) if nw else None
        gb = g2.sum(0) if nb else None
        return gx, gw, gb
