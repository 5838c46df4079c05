"""Activation ops, each one fused Op (forward + backward on arrays): leaky_relu, elu (and selu, celu),
gelu, silu, mish, softplus, logsigmoid, hardtanh, hardsigmoid, hardswish, threshold.

nn.functional checks the arguments and calls these; relu, sigmoid and tanh are in ops/unary.py,
softmax and log_softmax in ops/softmax.py.
"""
import math

from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class LeakyRelu(Op):
    _backward_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, a, slope):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        ctx.slope = slope
        return ctx.device.K.leaky_relu(a, slope)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.leaky_relu_backward(g, a, ctx.slope), None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        xp = ctx.device.xp
        return g * const(ctx, xp.where(a._data > 0, 1, ctx.slope), g._data.dtype), None


class Elu(Op):
    """scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)): elu, selu and celu."""
    _backward_name = "EluBackward0"

    @staticmethod
    def forward(ctx, a, alpha, scale, input_scale):
        out = ctx.device.K.elu(a, alpha, scale, input_scale)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a, out)  # references; backward_graph differentiates through the output
        ctx.consts = (alpha, scale, input_scale)
        return out

    @staticmethod
    def backward(ctx, g):
        a, _ = ctx.saved_tensors
        return ctx.device.K.elu_backward(g, a, *ctx.consts), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, out = saved(ctx)
        alpha, scale, input_scale = ctx.consts
        p = const(ctx, a._data > 0, g._data.dtype)
        return g * (p * scale + (1 - p) * ((out + alpha * scale) * input_scale)), None, None, None


# Gelu, Silu, Mish and the hard activations (LeakyRelu too, above) save only their input (a reference, as
# PyTorch does: no extra memory) and form the derivative in backward; with inplace=True the Op runs on a
# snapshot of the input (ops/inplace.py), which the write into the input leaves alone.
class Gelu(Op):
    _backward_name = "GeluBackward0"

    @staticmethod
    def forward(ctx, a, approximate):
        ctx.approximate = approximate
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        if approximate == "tanh":
            return ctx.device.K.gelu_tanh(a)
        return ctx.device.K.gelu(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            return ctx.device.K.gelu_tanh_backward(g, a), None
        return ctx.device.K.gelu_backward(g, a), None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        if ctx.approximate == "tanh":
            t = ((a + 0.044715 * a * a * a) * _SQRT_2_OVER_PI).tanh()
            d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * (_SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a))
        else:
            d = 0.5 * (1 + (a * _INV_SQRT_2).erf()) + a * (-0.5 * a * a).exp() * _INV_SQRT_2PI
        return g * d, None


class Silu(Op):
    _backward_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, a):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        return ctx.device.K.silu(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.silu_backward(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        s = a.sigmoid()
        return g * (s * (1 + a * (1 - s)))


class Mish(Op):
    _backward_name = "MishBackward0"

    @staticmethod
    def forward(ctx, a):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        return ctx.device.K.mish(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.mish_backward(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        t = Softplus.apply(a, 1.0, 20.0).tanh()
        return g * (t + a * (1 - t * t) * a.sigmoid())


class Softplus(Op):
    _backward_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, a, beta, threshold):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)  # the input itself (not beta * a): backward_graph differentiates it
        ctx.beta, ctx.threshold = beta, threshold
        return ctx.device.K.softplus(a, beta, threshold)  # PyTorch's: the identity where beta a > threshold

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.softplus_backward(g, a, ctx.beta, ctx.threshold), None, None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        lin = const(ctx, a._data * ctx.beta > ctx.threshold, g._data.dtype)
        return g * (lin + (1 - lin) * (a * ctx.beta).sigmoid()), None, None


class LogSigmoid(Op):
    _backward_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        return ctx.device.K.log_sigmoid(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.log_sigmoid_backward(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        return g * (-a).sigmoid()


class Hardtanh(Op):
    _backward_name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, a, lo, hi):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        ctx.bounds = (lo, hi)
        return ctx.device.K.hardtanh(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.hardtanh_backward(g, a, *ctx.bounds), None, None

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        lo, hi = ctx.bounds
        x = a._data
        return g * const(ctx, ~((x <= lo) | (x >= hi)), g._data.dtype), None, None


class Hardsigmoid(Op):
    _backward_name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        return ctx.device.K.hardsigmoid(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.hardsigmoid_backward(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        x = a._data
        return g * const(ctx, ((x > -3) & (x < 3)) / 6, g._data.dtype)


class Hardswish(Op):
    _backward_name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, a):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a)
        return ctx.device.K.hardswish(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return ctx.device.K.hardswish_backward(g, a)

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        x, dt = a._data, g._data.dtype
        # d is x / 3 + 1/2 on (-3, 3) and constant (0 or 1) elsewhere: only the middle depends on x
        return g * (const(ctx, (x > -3) & (x < 3), dt) * (a / 3 + 0.5) + const(ctx, x >= 3, dt))


class Threshold(Op):
    _backward_name = "ThresholdBackward0"

    @staticmethod
    def forward(ctx, a, threshold, value):
        keep = a > threshold
        ctx.save_for_backward(keep)
        return ctx.device.K.where(keep, a, a.dtype.type(value))

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return g * keep, None, None

    @staticmethod
    def backward_graph(ctx, g):
        (keep,) = ctx.saved_tensors
        return g * const(ctx, keep, g._data.dtype), None, None
