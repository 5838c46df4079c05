"""CUDA backend: CuPy arrays and kernels.cuda, or NumPy arrays in simulator mode (GPUNET_CUDA_SIM=1).

Imported lazily, the first time a CUDA device is used, so `import gpunet` never fails for lack of CUDA.
"""
import numpy as np

import kernels
from kernels.cuda import _launch

SIMULATOR = kernels.simulator_enabled()
xp = _launch.xp


def _load_kernels():
    import kernels.cuda as K
    return K


K = _load_kernels()


def is_available():
    return _launch.available()


def device_count():
    if not is_available():
        return 0
    if SIMULATOR:
        return 1
    return xp.cuda.runtime.getDeviceCount()


def require():
    if not is_available():
        raise RuntimeError(f"CUDA is not available: {_launch.unavailable_reason()}")


def to_host(array):
    if SIMULATOR:
        return np.array(array, copy=True)
    return xp.asnumpy(array)


def from_host(array):
    if SIMULATOR:
        return np.array(array, copy=True)
    return xp.asarray(array)


def make_rng(seed):
    if SIMULATOR:
        return np.random.Generator(np.random.PCG64(seed))
    return xp.random.Generator(xp.random.XORWOW(seed))


def synchronize():
    if not SIMULATOR and is_available():
        xp.cuda.get_current_stream().synchronize()


def scatter_add(target, index, values):
    """target[index] += values, accumulating repeated indices."""
    if SIMULATOR:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)
