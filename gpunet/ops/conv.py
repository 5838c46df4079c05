"""Convolution Ops over the device's kernels: conv2d (K.conv2d_forward/backward) and its transpose.

nn.functional checks the arguments with PyTorch's messages and runs 1-D convolutions as 2-D ones.
"""
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import refusal, saved


class Conv2d(Op):
    _backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.args = (stride, padding, dilation, groups)
        K = ctx.device.K
        if not ctx.needs_input_grad[1]:
            ctx.save_for_backward(x, w, None)
            return K.conv2d_forward(x, w, b, stride, padding, dilation, groups)
        # the weight gradient reads forward's im2col columns, kept when small (see kernels._conv_im2col);
        # saved with x and w, they are freed with them after backward
        y, columns = K.conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns=True)
        ctx.save_for_backward(x, w, columns)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, columns = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.device.K.conv2d_backward(g, x, w, *ctx.args, (n[0], n[1], n[2]), columns)
        return gx, gw, gb, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        """As convolutions of Tensors: grad_x = conv_transpose2d(g, w) (output_padding sized to x); grad_w =
        conv2d of x and g with the batch as channels (stride and dilation swap roles), cropped to w."""
        x, w, _ = saved(ctx)
        stride, padding, dilation, groups = ctx.args
        nx, nw, nb = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if nx:
            out_pad = tuple(x.shape[2 + i] - ((g.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                              + dilation[i] * (w.shape[2 + i] - 1) + 1) for i in range(2))
            gx = ConvTranspose2d.apply(g, w, None, stride, padding, out_pad, dilation, groups)
        if nw:
            if groups != 1:
                raise refusal(ctx, " for the weight of a grouped convolution (groups > 1)")
            gw = Conv2d.apply(x.transpose(0, 1), g.transpose(0, 1), None, dilation, padding, stride, 1)
            gw = gw[:, :, :w.shape[2], :w.shape[3]].transpose(0, 1)
        if nb:
            gb = g.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Op):
    _backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.args = (stride, padding, output_padding, dilation, groups)
        K = ctx.device.K
        return K.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.device.K.conv_transpose2d_backward(g, x, w, *ctx.args, (n[0], n[1], n[2]))
        return gx, gw, gb, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        """As convolutions of Tensors: grad_x = conv2d(g, w); grad_w = conv2d of g and x with the batch as
        channels (stride and dilation swap roles), cropped to w."""
        x, w = saved(ctx)
        stride, padding, _, dilation, groups = ctx.args
        nx, nw, nb = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if nx:
            gx = Conv2d.apply(g, w, None, stride, padding, dilation, groups)
        if nw:
            if groups != 1:
                raise refusal(ctx, " for the weight of a grouped transposed convolution (groups > 1)")
            gw = Conv2d.apply(g.transpose(0, 1), x.transpose(0, 1), None, dilation, padding, stride, 1)
            gw = gw[:, :, :w.shape[2], :w.shape[3]].transpose(0, 1)
        if nb:
            gb = g.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None, None
