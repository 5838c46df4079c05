"""autocast: a region (context manager or decorator) where the ops PyTorch lists run in float16.

    with gpunet.autocast("cuda"):                  # float16 matmul/linear/conv, float32 softmax/losses
        loss = loss_fn(model(x), y)

The state is per thread and nests: an inner autocast(enabled=False) turns it off, leaving restores the
outer one. Which op casts how is gpunet.amp._policy's table. gpunet has no bfloat16 dtype, so CPU autocast
(whose default is bfloat16) needs dtype=gpunet.float16; PyTorch's CPU autocast supports float16 too.
`cache_enabled` is accepted and has no effect: casts are not cached (each op casts its weight again).
"""
import functools
import warnings

from gpunet import dtypes as _dt
from gpunet.amp import _policy
from gpunet.backend import CUDA0

_DEFAULT = {"cuda": "float16", "cpu": "bfloat16"}  # PyTorch's get_autocast_dtype defaults


def _no_bfloat16(device_type):
    return RuntimeError(f"autocast({device_type!r}, dtype=torch.bfloat16): gpunet has no bfloat16 dtype; use "
                        "dtype=torch.float16 (or enabled=False)")


class autocast:
    """torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEFAULT:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        self._cache_enabled = cache_enabled
        if dtype is None:
            if _DEFAULT[device_type] == "bfloat16" and self._enabled:
                raise _no_bfloat16(device_type)
            self.fast_dtype = _dt.float16
        elif not isinstance(dtype, _dt.dtype):
            raise TypeError(f"autocast: dtype must be a torch.dtype, got {type(dtype).__name__}")
        if self._enabled and self.fast_dtype != _dt.float16:
            # PyTorch warns and disables for a dtype the device cannot autocast to
            kind = device_type.upper()
            warnings.warn(f"In {kind} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{kind} Autocast only supports dtype of torch.float16 currently.", stacklevel=2)
            self._enabled = False
        if self._enabled and device_type == "cuda":
            try:
                CUDA0.backend
            except RuntimeError:
                warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                self._enabled = False
        self._previous = []

    def __enter__(self):
        self._previous.append(_policy.set_dtype(self.device, self.fast_dtype if self._enabled else None))
        return self

    def __exit__(self, exc_type, exc, tb):
        _policy.set_dtype(self.device, self._previous.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorated


def is_autocast_enabled(device_type=None):
    """torch.is_autocast_enabled(device_type='cuda')."""
    return (device_type or "cuda") in _policy.state.dtypes


def get_autocast_dtype(device_type):
    """torch.get_autocast_dtype: the active region's dtype, else the device's default (float16 on cuda)."""
    active = _policy.state.dtypes.get(device_type)
    if active is not None:
        return active
    if _DEFAULT.get(device_type) == "bfloat16":
        raise _no_bfloat16(device_type)
    return _dt.float16
