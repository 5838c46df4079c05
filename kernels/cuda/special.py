"""Special functions on the device: erf (for GELU and the normal CDF)."""
import math

from kernels.cuda._launch import cuda, kernel, launch, xp

__all__ = ["erf"]


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
