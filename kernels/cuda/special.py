"""Special functions on the device: erf, and GELU with its backward."""
import math

from kernels.cuda._launch import cuda, kernel, launch, xp

__all__ = ["erf", "gelu", "gelu_backward"]

_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


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
