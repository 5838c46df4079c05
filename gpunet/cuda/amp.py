"""torch.cuda.amp: the deprecated spellings of gpunet.amp's autocast("cuda") and GradScaler("cuda")."""
import warnings

from gpunet import dtypes as _dt
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.amp import autocast_mode as _autocast_mode, grad_scaler as _grad_scaler


class autocast(_autocast_mode.autocast):
    """torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True): deprecated."""

    def __init__(self, enabled=True, dtype=_dt.float16, cache_enabled=True):
        warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_grad_scaler.GradScaler):
    """torch.cuda.amp.GradScaler(init_scale=2.**16, ...): deprecated."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
