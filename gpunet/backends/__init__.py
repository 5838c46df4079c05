"""gpunet.backends (`torch.backends`): the switches scripts set at the top.

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True

gpunet runs on NumPy/Numba (CPU) and CuPy with its own Numba CUDA kernels (GPU): it uses neither
cuDNN, MPS, oneDNN (mkldnn), MKL nor OpenMP itself. Each submodule keeps PyTorch's flags as plain
attributes that can be set and read back and change nothing in gpunet; its `is_available()` says
honestly whether gpunet uses that library.
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.backends import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp  # noqa: F401

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
