"""gpunet.backends.cuda: `matmul.allow_tf32` and friends are kept and change nothing (CuPy's matmul
keeps its own defaults); is_built() says whether gpunet can run its cuda device at all."""
import importlib.util

import gpunet.cuda as _cuda


class _MatmulFlags:
    """`torch.backends.cuda.matmul`: settable flags; a misspelt one is an error, as in PyTorch."""

    __slots__ = ("allow_tf32", "allow_fp16_reduced_precision_reduction",
                 "allow_bf16_reduced_precision_reduction", "fp32_precision")

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True
        self.fp32_precision = "none"

    def __repr__(self):
        return "matmul(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


matmul = _MatmulFlags()


def is_built():
    """True when gpunet can run a cuda device on a machine with a GPU (CuPy installed), or runs the
    simulated one (GPUNET_CUDA_SIM=1)."""
    return _cuda.is_available() or importlib.util.find_spec("cupy") is not None
