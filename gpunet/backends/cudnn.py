"""gpunet.backends.cudnn: gpunet uses no cuDNN (its convolutions are its own kernels), so the flags are
kept for the scripts that set them and change nothing."""
import contextlib
import sys

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True
fp32_precision = "none"


def is_available():
    """False: gpunet does not use cuDNN."""
    return False


def version():
    """None: gpunet is not linked against cuDNN (PyTorch answers None the same way without it)."""
    return None


def is_acceptable(tensor):
    """False: no tensor is handed to cuDNN."""
    return False


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True,
          fp32_precision="none", depthwise_kernel="auto"):
    """Set the flags inside a `with` block and restore them after it, as torch.backends.cudnn.flags."""
    module = sys.modules[__name__]
    new = {"enabled": enabled, "benchmark": benchmark, "benchmark_limit": benchmark_limit,
           "deterministic": deterministic, "allow_tf32": allow_tf32, "fp32_precision": fp32_precision}
    old = {name: getattr(module, name) for name in new}
    for name, value in new.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(module, name, value)
