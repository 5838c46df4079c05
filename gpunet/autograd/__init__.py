"""gpunet.autograd: backward, grad, Function, grad modes, gradcheck and gradgradcheck, functional
(jacobian, hessian, vjp, hvp, vhp), Variable."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet._from_data import tensor as _tensor
from gpunet.autograd.engine import backward, grad  # noqa: F401
from gpunet.autograd.function import Function, FunctionCtx, once_differentiable  # noqa: F401
from gpunet.autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,  # noqa: F401
                                       set_grad_enabled)
from gpunet.autograd.gradcheck import gradcheck, gradgradcheck  # noqa: F401
from gpunet.tensor import Tensor


def Variable(data, requires_grad=False, volatile=False):
    """The legacy wrapper PyTorch keeps: returns a Tensor (requiring grad when asked)."""
    t = data.detach() if isinstance(data, Tensor) else _tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
