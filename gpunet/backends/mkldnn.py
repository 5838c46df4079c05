"""gpunet.backends.mkldnn: gpunet does not use oneDNN; `enabled` is kept and changes nothing."""
enabled = True


def is_available():
    """False: gpunet does not use oneDNN (mkldnn)."""
    return False
