"""parameters_to_vector / vector_to_parameters."""

from gpunet.ops.shape import cat
from gpunet.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(params):
    device = None
    for p in params:
        if device is None:
            device = p.device
        elif p.device != device:
            raise TypeError("Found two parameters on different devices, this is currently not supported.")


def parameters_to_vector(parameters):
    """One 1-D tensor: the parameters flattened and concatenated (differentiable)."""
    params = list(parameters)
    _check_same_device(params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its slice of the 1-D tensor vec (inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    _check_same_device(params)
    total = sum(p.numel() for p in params)
    if vec.dim() != 1 or vec.numel() < total:
        raise RuntimeError(
            f"vector_to_parameters: vec has shape {list(vec.shape)} but the parameters hold "
            f"{total} elements (expected a 1-D tensor at least that long)"
        )
    pointer = 0
    for p in params:
        n = p.numel()
        p.data = vec[pointer : pointer + n].view_as(p).data
        pointer += n
