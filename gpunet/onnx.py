"""gpunet.onnx (`torch.onnx`): gpunet has no ONNX exporter. Importing the module works, so a script that
only mentions it still runs; exporting, and every other name of torch.onnx, raises NotImplementedError
naming the API (a missing attribute raises an AttributeError that is also a NotImplementedError, so
`hasattr` works). `is_in_onnx_export()`, which model code asks while running, answers False.
"""
from gpunet._missing import UnsupportedAttributeError


def _unsupported(name):
    return NotImplementedError(
        f"torch.onnx.{name} is not supported by gpunet: gpunet has no ONNX exporter (it runs models "
        "eagerly on NumPy or CuPy); export the model with PyTorch itself")


def export(model, args=(), f=None, *pargs, **kwargs):
    raise _unsupported("export")


def is_in_onnx_export():
    """False: gpunet never exports."""
    return False


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(f"module 'gpunet.onnx' has no attribute {name!r}")
    raise UnsupportedAttributeError(str(_unsupported(name)))
