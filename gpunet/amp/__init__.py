"""torch.amp: automatic mixed precision. autocast runs the ops PyTorch lists in float16 (matmul, linear,
conv) or float32 (softmax, losses, reductions) inside a region; GradScaler scales the loss so float16
gradients do not underflow, and skips steps whose gradients overflowed."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.amp.autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: F401
from gpunet.amp.grad_scaler import GradScaler  # noqa: F401

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
