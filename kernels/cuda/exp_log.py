"""exp and log on the device: CuPy's ufuncs (CUDA's expf / logf, within 2 and 1 ulp by the CUDA
programming guide's table; one elementwise kernel each)."""
from kernels.cuda._launch import xp

__all__ = ["exp", "log"]


def exp(a):
    """xp.exp(a)."""
    return xp.exp(a)


def log(a):
    """xp.log(a)."""
    return xp.log(a)
