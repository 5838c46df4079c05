"""ReLU, sigmoid, SiLU, ELU, leaky ReLU and the hard activations on the device: CuPy's elementwise kernels
(a pass per operation); the edges are kernels.cpu's (PyTorch's)."""
from kernels.cuda._launch import xp

__all__ = ["clamp", "clamp_backward", "elu", "elu_backward", "hardsigmoid", "hardsigmoid_backward",
           "hardswish", "hardswish_backward", "hardtanh", "hardtanh_backward", "leaky_relu",
           "leaky_relu_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "silu",
           "silu_backward", "tanh_backward"]


def relu(x):
    """max(x, 0) elementwise, NaN kept (a new array of x's shape and dtype)."""
    return xp.maximum(x, 0)


def relu_backward(grad_output, out):
    """ReLU's input gradient from its output: 0 where out <= 0, else grad_output (also where out is NaN)."""
    return xp.where(out <= 0, xp.zeros((), dtype=grad_output.dtype), grad_output)


def sigmoid(x):
    """1 / (1 + exp(-x)) elementwise, without overflow (a new array of x's shape and dtype)."""
    return xp.exp(xp.minimum(x, 0)) / (1 + xp.exp(-abs(x)))


def silu(x):
    """x * sigmoid(x)."""
    return x * sigmoid(x)


def silu_backward(grad_output, x):
    """SiLU's input gradient from its input: grad_output * s * (1 + x * (1 - s)), s = sigmoid(x)."""
    s = sigmoid(x)
    return grad_output * (s * (1 + x * (1 - s)))


def sigmoid_backward(grad_output, out):
    """sigmoid's input gradient from its output: grad_output * out * (1 - out)."""
    return grad_output * out * (1 - out)


def tanh_backward(grad_output, out):
    """tanh's input gradient from its output: grad_output * (1 - out^2)."""
    return grad_output * (1 - out * out)


def elu(x, alpha, scale, input_scale):
    """scale * x where x > 0, else alpha * scale * expm1(x * input_scale) (elu, selu, celu)."""
    return xp.where(x > 0, x * scale, xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale))


def elu_backward(grad_output, x, alpha, scale, input_scale):
    """ELU's input gradient from its input: grad_output * scale where x > 0, else
    grad_output * alpha * scale * input_scale * exp(x * input_scale)."""
    slope = alpha * scale * input_scale
    negative = grad_output * (slope * xp.exp(xp.minimum(x, 0) * input_scale))
    return xp.where(x > 0, grad_output * scale, negative)


def leaky_relu(x, negative_slope):
    """x where x > 0, else x * negative_slope."""
    return xp.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(grad_output, x, negative_slope):
    """leaky_relu's input gradient from its input: grad_output where x > 0, else grad_output * slope."""
    return xp.where(x > 0, grad_output, grad_output * negative_slope)


def hardtanh(x, min_val, max_val):
    """x clamped to [min_val, max_val], NaN kept (relu6: 0, 6)."""
    return xp.clip(x, min_val, max_val)


def hardtanh_backward(grad_output, x, min_val, max_val):
    """hardtanh's input gradient from its input: 0 where x <= min_val or x >= max_val, else grad_output."""
    return xp.where((x <= min_val) | (x >= max_val), xp.zeros((), dtype=grad_output.dtype), grad_output)


def hardsigmoid(x):
    """min(max(x + 3, 0), 6) / 6."""
    return xp.clip(x + 3, 0, 6) / 6


def hardsigmoid_backward(grad_output, x):
    """grad_output * (1/6) where -3 < x < 3, else 0."""
    sixth = xp.asarray(1 / 6, dtype=grad_output.dtype)
    return xp.where((x > -3) & (x < 3), grad_output * sixth, xp.zeros((), dtype=grad_output.dtype))


def hardswish(x):
    """x * min(max(x + 3, 0), 6) / 6."""
    return x * xp.clip(x + 3, 0, 6) / 6


def hardswish_backward(grad_output, x):
    """0 for x <= -3, grad_output * (x / 3 + 1/2) for x < 3, grad_output above (and for NaN)."""
    middle = xp.where(x < 3, grad_output * (x / 3 + 0.5), grad_output)
    zero = xp.zeros((), dtype=grad_output.dtype)
    return xp.where(x <= -3, zero, middle).astype(grad_output.dtype, copy=False)


def clamp(x, min_val, max_val):
    """x clamped to [min_val, max_val] (either may be None, a number or an array), NaN kept, max_val where
    min_val > max_val."""
    out = x if min_val is None else xp.maximum(x, min_val)
    out = out if max_val is None else xp.minimum(out, max_val)
    return x.copy() if out is x else out


def clamp_backward(grad_output, x, min_val, max_val):
    """clamp's gradient for x: grad_output where min_val <= x <= max_val, else 0."""
    keep = True if min_val is None else x >= min_val
    keep = keep if max_val is None else keep & (x <= max_val)
    return xp.where(keep, grad_output, xp.zeros((), dtype=grad_output.dtype))
