"""Special functions on the device: erf, and GELU (exact and tanh forms) with its backward."""
import math

from kernels.cuda._launch import cuda, kernel, launch, xp

__all__ = ["erf", "gelu", "gelu_backward", "gelu_tanh", "gelu_tanh_backward"]

_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_TANH_K = -2.0 * math.sqrt(2.0 / math.pi)


@kernel
def _erf_kernel(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = math.erf(x[i])


def erf(x):
    """Elementwise error function of a float array (float16 computed in float32)."""
    orig = x.dtype
    flat = xp.ascontiguousarray(x.reshape(-1).astype(xp.float32) if orig == xp.float16 else x.reshape(-1))
    out = xp.empty_like(flat)
    launch(_erf_kernel, flat.size, flat, out)
    return out.reshape(x.shape).astype(orig, copy=False)


def gelu(x):
    """x * Phi(x) (GELU, exact form)."""
    return x * (0.5 * (1 + erf(x * _INV_SQRT_2)))


def gelu_backward(grad_output, x):
    """GELU's input gradient from its input: grad_output * (Phi(x) + x * phi(x))."""
    return grad_output * (0.5 * (1 + erf(x * _INV_SQRT_2)) + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI)


def _sigmoid_2z(x):
    """sigmoid(2 z), z = sqrt(2 / pi) (x + 0.044715 x^3): 0.5 (1 + tanh(z)) without its cancellation."""
    return 1 / (1 + xp.exp(_GELU_TANH_K * (x + 0.044715 * (x * x * x))))


def gelu_tanh(x):
    """GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    return x * _sigmoid_2z(x)


def gelu_tanh_backward(grad_output, x):
    """The tanh approximation's input gradient from its input."""
    s = _sigmoid_2z(x)
    return grad_output * (s - x * s * (1 - s) * _GELU_TANH_K * (1 + 3 * 0.044715 * (x * x)))
