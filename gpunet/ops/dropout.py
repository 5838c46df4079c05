"""MaskedScale: y = x * mult (+ add), the dropout Op; nn.functional draws mult (and add) and calls it."""
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const


class MaskedScale(Op):
    """y = x * mult (+ add); mult (and add) broadcast against x. The dropout Op."""
    _backward_name = "NativeDropoutBackward0"

    @staticmethod
    def forward(ctx, x, mult, add):
        ctx.save_for_backward(mult)
        out = x * mult
        if add is not None:
            out += add
        return out

    @staticmethod
    def backward(ctx, g):
        (mult,) = ctx.saved_tensors
        return g * mult, None, None

    @staticmethod
    def backward_graph(ctx, g):
        (mult,) = ctx.saved_tensors
        return g * const(ctx, mult), None, None
