"""Pooling Ops over the device's kernels: max, average and adaptive average pooling, and adaptive max.

x is (N, C, H, W); max pooling returns flat indices h * W + w within each (n, c) plane, as PyTorch.
nn.functional checks the arguments and runs the 1-D forms as 2-D ones.
"""
from gpunet.autograd.function import Op
from gpunet.ops.indexing import IndexBackward


def _unpool_graph(ctx, g, idx):
    """Max pooling's backward as Tensor ops: g summed into the input positions idx (flat within each
    (n, c) plane), through IndexBackward, whose own backward gathers again."""
    xp = ctx.device.xp
    n, c, h, w = ctx.x_shape
    planes = xp.arange(n * c, dtype=idx.dtype).reshape(n, c, 1, 1) * (h * w)
    flat = IndexBackward.apply(g.reshape(-1), (n * c * h * w,), ((idx + planes).reshape(-1),), True)
    return flat.reshape(ctx.x_shape)


class MaxPool2d(Op):
    _backward_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        y, idx = ctx.device.K.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        return y, idx

    @staticmethod
    def backward(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        return ctx.device.K.max_pool2d_backward(g, idx, ctx.x_shape), None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        return _unpool_graph(ctx, g, idx), None, None, None, None, None


class AvgPool2d(Op):
    _backward_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.args = (x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return ctx.device.K.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                               divisor_override)

    @staticmethod
    def backward(ctx, g):
        return (ctx.device.K.avg_pool2d_backward(g, *ctx.args),) + (None,) * 6

    @staticmethod
    def backward_graph(ctx, g):
        return (AvgPool2dBackward.apply(g, ctx.args),) + (None,) * 6


class AvgPool2dBackward(Op):
    """avg_pool2d's backward as an Op (the create_graph walk). Both are linear, each the other's transpose,
    so its backward is avg_pool2d's forward."""
    _backward_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, args):
        ctx.args = args
        return ctx.device.K.avg_pool2d_backward(g, *args)

    @staticmethod
    def backward(ctx, gg):
        return ctx.device.K.avg_pool2d_forward(gg, *ctx.args[1:]), None

    @staticmethod
    def backward_graph(ctx, gg):
        return AvgPool2d.apply(gg, *ctx.args[1:]), None


class AdaptiveAvgPool2d(Op):
    _backward_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.x_shape, ctx.output_size = x.shape, output_size
        return ctx.device.K.adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, g):
        return ctx.device.K.adaptive_avg_pool2d_backward(g, ctx.x_shape), None

    @staticmethod
    def backward_graph(ctx, g):
        return AdaptiveAvgPool2dBackward.apply(g, ctx.x_shape, ctx.output_size), None


class AdaptiveAvgPool2dBackward(Op):
    """adaptive_avg_pool2d's backward as an Op (the create_graph walk): its transpose, so its backward is
    adaptive_avg_pool2d's forward."""
    _backward_name = "AdaptiveAvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x_shape, output_size):
        ctx.output_size = output_size
        return ctx.device.K.adaptive_avg_pool2d_backward(g, x_shape)

    @staticmethod
    def backward(ctx, gg):
        return ctx.device.K.adaptive_avg_pool2d_forward(gg, ctx.output_size), None, None

    @staticmethod
    def backward_graph(ctx, gg):
        return AdaptiveAvgPool2d.apply(gg, ctx.output_size), None, None


class AdaptiveMaxPool2d(Op):
    """Adaptive max pooling as a loop over output cells (outputs are small: 1x1 .. 7x7 in practice)."""
    _backward_name = "AdaptiveMaxPool2DBackward0"

    @staticmethod
    def forward(ctx, x, output_size):
        xp = ctx.device.xp
        n, c, h, w = x.shape
        ho, wo = output_size
        y = xp.empty((n, c, ho, wo), dtype=x.dtype)
        idx = xp.empty((n, c, ho, wo), dtype=xp.int64)
        for i in range(ho):
            h0, h1 = (i * h) // ho, -(-((i + 1) * h) // ho)
            for j in range(wo):
                w0, w1 = (j * w) // wo, -(-((j + 1) * w) // wo)
                win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
                k = win.argmax(axis=2)
                y[:, :, i, j] = xp.take_along_axis(win, k[:, :, None], axis=2)[:, :, 0]
                idx[:, :, i, j] = (h0 + k // (w1 - w0)) * w + (w0 + k % (w1 - w0))
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        return y, idx

    @staticmethod
    def backward(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        return ctx.device.K.max_pool2d_backward(g, idx, ctx.x_shape), None

    @staticmethod
    def backward_graph(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        return _unpool_graph(ctx, g, idx), None
