"""Helpers shared by the distributions: parameters broadcast together; probabilities <-> logits."""
import numbers

import numpy as np

from gpunet import dtypes as _dt
from gpunet._from_data import tensor
from gpunet.ops.shape import broadcast_tensors
from gpunet.ops.unary import log1p
from gpunet.tensor import Size, Tensor


def broadcast_all(*values):
    """Tensors broadcast to one shape; numbers become tensors of the first tensor's dtype and device (the
    default dtype on the CPU when there is none), as torch.distributions.utils.broadcast_all."""
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError(f"Input arguments must all be instances of numbers.Number or gpunet.Tensor, got "
                             f"{type(v).__name__}")
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = _dt.get_default_dtype() if ref is None else ref.dtype
    device = None if ref is None else ref.device
    values = [v if isinstance(v, Tensor) else tensor(v, dtype=dtype, device=device) for v in values]
    return broadcast_tensors(*values)


def check_tensor(value, name, owner):
    if not isinstance(value, Tensor):
        raise TypeError(f"{owner}: `{name}` must be a Tensor, got {type(value).__name__}")


def sample_size(sample_shape):
    """sample_shape as a Size; an int is refused, as in PyTorch (a shape is a sequence)."""
    try:
        return Size(int(s) for s in sample_shape)
    except TypeError:
        raise TypeError(f"sample_shape must be a sequence of ints (a gpunet.Size or a tuple), got "
                        f"{sample_shape!r}") from None


def clamp_probs(probs):
    """Probabilities kept eps away from 0 and 1 (eps: the dtype's machine epsilon), so logs stay finite."""
    eps = float(np.finfo(probs.dtype.np).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """log(p) (the log-odds log(p) - log(1 - p) when is_binary), p clamped away from 0 and 1."""
    ps = clamp_probs(probs)
    return ps.log() - log1p(-ps) if is_binary else ps.log()


def logits_to_probs(logits, is_binary=False):
    """sigmoid(logits) when is_binary, else softmax over the last dim."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)
