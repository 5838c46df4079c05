"""gpunet.backends.mps: gpunet has no Apple MPS device."""


def is_available():
    """False: gpunet has no MPS device."""
    return False


def is_built():
    """False: gpunet is not built with MPS support."""
    return False
