"""gpunet.nn.utils: gradient clipping, parameter/vector conversion, safetensors state dicts."""
from gpunet._missing import missing_attribute as _missing_attribute

from gpunet.nn.utils import rnn  # noqa: F401
from gpunet.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from gpunet.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from gpunet.nn.utils.safetensors_io import load_safetensors, save_safetensors

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
    "save_safetensors",
    "load_safetensors",
]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
