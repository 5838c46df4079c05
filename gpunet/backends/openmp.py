"""gpunet.backends.openmp."""


def is_available():
    """False: gpunet is not built with OpenMP (its parallel CPU kernels use Numba's threading layer)."""
    return False
