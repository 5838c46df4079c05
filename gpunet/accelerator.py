"""gpunet.accelerator (`torch.accelerator`): the device-agnostic questions scripts ask first.

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"

gpunet's one accelerator is its `cuda` device (a GPU with CuPy, or Numba's simulator with
GPUNET_CUDA_SIM=1), so every answer here is gpunet.cuda's. PyTorch distinguishes the accelerator it
was built for from the one present at run time (`check_available`); gpunet is not built for a
device, it finds one at run time, so the two answers are the same.
"""
from gpunet._missing import missing_attribute as _missing_attribute
import warnings

import gpunet.cuda as _cuda
from gpunet.backend import Device as _Device

_NONE = "Cannot access accelerator device when none is available."


def is_available():
    """True when gpunet's accelerator (the cuda device) can be used now."""
    return _cuda.is_available()


def current_accelerator(check_available=False):
    """`device(type='cuda')` (no index, as in PyTorch) when the cuda device is available, else None."""
    return _Device("cuda") if _cuda.is_available() else None


def device_count():
    """The number of accelerator devices: 0 without one."""
    return _cuda.device_count() if _cuda.is_available() else 0


def current_device_index():
    """The index of the current accelerator device (always 0: gpunet uses one GPU)."""
    _require()
    return _cuda.current_device()


def set_device_index(device, /):
    """Select the current device: gpunet has one, index 0; a negative index is a no-op, as in PyTorch."""
    index = _index(device, "set_device_index")
    if index is not None and index < 0:
        return
    _require()
    if index not in (None, 0):
        raise RuntimeError(f"set_device_index: device index {index} is out of range: gpunet uses one GPU "
                           f"(device_count() == {device_count()})")


def synchronize(device=None, /):
    """Wait for all work queued on the accelerator device to finish."""
    _index(device, "synchronize")
    _require()
    _cuda.synchronize()


def current_device_idx():
    """Deprecated alias of current_device_index (PyTorch warns the same way)."""
    warnings.warn("Use `current_device_index` instead.", FutureWarning, stacklevel=2)
    return current_device_index()


def set_device_idx(device, /):
    """Deprecated alias of set_device_index (PyTorch warns the same way)."""
    warnings.warn("Use `set_device_index` instead.", FutureWarning, stacklevel=2)
    set_device_index(device)


class device_index:
    """`with gpunet.accelerator.device_index(i):` selects device i inside the block; None changes nothing.

    gpunet has one device, so entering checks the index and leaving has nothing to restore."""

    def __init__(self, device, /):
        self.idx = device

    def __enter__(self):
        if self.idx is not None:
            set_device_index(self.idx)

    def __exit__(self, *exc_info):
        return False


def _require():
    if not _cuda.is_available():
        raise RuntimeError(_NONE)


def _index(device, op):
    """The index a device argument names (None for none), after checking it is the accelerator's type."""
    if device is None or isinstance(device, int):
        return device
    dev = device if isinstance(device, _Device) else _Device(device)
    if dev.type != "cuda":
        raise RuntimeError(f"{op}: expected a device of the current accelerator (cuda), got {dev}")
    return dev.index

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
