"""batch/instance/layer/group norm on the device: kernels/_normalize.py's array maths on CuPy."""
from kernels import _normalize
from kernels.cuda._launch import xp

__all__ = ["normalize_forward", "normalize_backward"]


def normalize_forward(x, weight, bias, axes, param_shape, eps, fixed):
    """See kernels._normalize.normalize_forward."""
    return _normalize.normalize_forward(xp, x, weight, bias, axes, param_shape, eps, fixed)


def normalize_backward(grad_output, x, mean, invstd, weight, axes, param_shape, batch_stats, needs):
    """See kernels._normalize.normalize_backward."""
    return _normalize.normalize_backward(xp, grad_output, x, mean, invstd, weight, axes, param_shape,
                                         batch_stats, needs)
