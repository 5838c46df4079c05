"""gpunet.nn: Module, Parameter, containers, layers, losses; nn.functional; nn.init; nn.utils."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.nn.parameter import *  # noqa: F401,F403
from gpunet.nn.module import *  # noqa: F401,F403
from gpunet.nn.containers import *  # noqa: F401,F403
from gpunet.nn.modules import *  # noqa: F401,F403
from gpunet.nn import functional, init, parallel, utils  # noqa: F401

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
