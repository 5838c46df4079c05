"""softplus, logsigmoid and Mish on the device: CuPy's elementwise kernels (a pass per operation); the
formulas and edges are kernels.cpu.softplus_family's."""
from kernels.cuda._launch import xp
from kernels.cuda.activation import sigmoid

__all__ = ["log_sigmoid", "log_sigmoid_backward", "mish", "mish_backward", "softplus", "softplus_backward"]


def _softplus(x):
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-abs(x)))


def softplus(x, beta, threshold):
    """log(1 + exp(beta x)) / beta, x where beta x > threshold."""
    bx = x * beta
    return xp.where(bx > threshold, x, _softplus(bx) / beta)


def softplus_backward(grad_output, x, beta, threshold):
    """softplus's input gradient from its input: grad_output * sigmoid(beta x), grad_output where
    beta x > threshold."""
    bx = x * beta
    return xp.where(bx > threshold, grad_output, grad_output * sigmoid(bx))


def log_sigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), without overflow."""
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-abs(x)))


def log_sigmoid_backward(grad_output, x):
    """logsigmoid's input gradient from its input: grad_output * sigmoid(-x)."""
    return grad_output * sigmoid(-x)


def _mish_tanh(x):
    """tanh(softplus(x)) = n (n + 2) / (n (n + 2) + 2), n = exp(min(x, 20)) (float32 for float16: exp(20)
    overflows float16)."""
    x32 = x.astype(xp.float32) if x.dtype == xp.float16 else x
    n = xp.exp(xp.where(x32 > 20, x32.dtype.type(20), x32))
    p = n * (n + 2)
    return x32, n, p / (p + 2)


def mish(x):
    """x * tanh(softplus(x))."""
    x32, _, t = _mish_tanh(x)
    return (x32 * t).astype(x.dtype, copy=False)


def mish_backward(grad_output, x):
    """Mish's input gradient from its input: grad_output * (t + x (1 - t^2) sigmoid(x)),
    t = tanh(softplus(x))."""
    x32, n, t = _mish_tanh(x)
    return (grad_output * (t + x32 * (1 - t * t) * (n / (1 + n)))).astype(x.dtype, copy=False)
