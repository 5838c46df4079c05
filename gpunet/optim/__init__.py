"""gpunet.optim: Optimizer, the algorithms (each calling its fused kernel), lr_scheduler.

Every algorithm but LBFGS updates its params through one fused kernel of the param's device
(``K.sgd_step``, ``K.adam_step``, ...): per tensor on the CPU, over flat per-group buffers on CUDA
(O(1) launches per param group). See gpunet/optim/_fused.py and _flat.py.
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.optim.optimizer import Optimizer  # noqa: F401
from gpunet.optim.adadelta import Adadelta  # noqa: F401
from gpunet.optim.adagrad import Adagrad  # noqa: F401
from gpunet.optim.adam import Adam  # noqa: F401
from gpunet.optim.adamax import Adamax  # noqa: F401
from gpunet.optim.adamw import AdamW  # noqa: F401
from gpunet.optim.lbfgs import LBFGS  # noqa: F401
from gpunet.optim.nadam import NAdam  # noqa: F401
from gpunet.optim.radam import RAdam  # noqa: F401
from gpunet.optim.rmsprop import RMSprop  # noqa: F401
from gpunet.optim.sgd import SGD  # noqa: F401
from gpunet.optim import lr_scheduler  # noqa: F401

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "SGD", "lr_scheduler"]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
