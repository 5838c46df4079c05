"""Pooling Ops over the device's kernels: max, average and adaptive average pooling, and adaptive max.

x is (N, C, H, W); max pooling returns flat indices h * W + w within each (n, c) plane, as PyTorch.
nn.functional checks the arguments and runs the 1-D forms as 2-D ones.
"""
from gpunet.autograd.function import Op


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


class AdaptiveAvgPool2d(Op):
    _backward_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.x_shape = x.shape
        return ctx.device.K.adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, g):
        return ctx.device.K.adaptive_avg_pool2d_backward(g, ctx.x_shape), None


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
