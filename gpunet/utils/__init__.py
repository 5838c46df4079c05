"""gpunet.utils: data loading (gpunet.utils.data), hooks handles, named return types."""
from gpunet._missing import missing_attribute as _missing_attribute

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
