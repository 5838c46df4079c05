"""gpunet.cuda: is_available, device_count, synchronize, manual_seed (as torch.cuda)."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.random import seed_device
from gpunet.cuda import amp  # noqa: F401  (torch.cuda.amp, deprecated spellings of gpunet.amp)


def _backend():
    from gpunet.backend import cuda
    return cuda


def is_available():
    """True on a machine with an NVIDIA GPU and CuPy, or in simulator mode (GPUNET_CUDA_SIM=1)."""
    try:
        return _backend().is_available()
    except Exception:
        return False


def device_count():
    try:
        return _backend().device_count()
    except Exception:
        return 0


def current_device():
    return 0


def synchronize(device=None):
    if is_available():
        _backend().synchronize()


def manual_seed(seed):
    seed_device("cuda", seed)


manual_seed_all = manual_seed


def is_simulated():
    """True when the cuda device runs in Numba's CUDA simulator."""
    return is_available() and _backend().SIMULATOR

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
