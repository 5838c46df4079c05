"""gpunet.backends.mkl."""


def is_available():
    """False: gpunet itself is not built with MKL (NumPy may use it underneath)."""
    return False
