"""ReLU, sigmoid and SiLU on the device: CuPy's elementwise kernels (a pass per operation)."""
from kernels.cuda._launch import xp

__all__ = ["relu", "relu_backward", "sigmoid", "sigmoid_backward", "silu", "silu_backward", "tanh_backward"]


def relu(x):
    """max(x, 0) elementwise, NaN kept (a new array of x's shape and dtype)."""
    return xp.maximum(x, 0)


def relu_backward(grad_output, out):
    """ReLU's input gradient from its output: grad_output where out > 0, else 0."""
    return xp.where(out > 0, grad_output, xp.zeros((), dtype=grad_output.dtype))


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
