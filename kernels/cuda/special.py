"""Special functions on the device: erf, and GELU with its derivative."""
import math

from kernels.cuda._launch import cuda, kernel, launch, xp

__all__ = ["erf", "gelu"]

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


def gelu(x, with_derivative=False):
    """x * Phi(x) (GELU, exact form) and, when asked, its derivative Phi(x) + x * phi(x):
    (out, derivative or None)."""
    cdf = 0.5 * (1 + erf(x * _INV_SQRT_2))
    out = x * cdf
    if not with_derivative:
        return out, None
    return out, cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
