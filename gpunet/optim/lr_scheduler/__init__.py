"""Learning-rate schedulers (torch.optim.lr_scheduler), with PyTorch's chainable semantics.

Call `optimizer.step()` before `scheduler.step()`. Constructing a scheduler takes an initial step and
writes `initial_lr` into every param group; `get_last_lr()` reads the current lrs; `state_dict()` holds
everything except the optimizer.
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.optim.lr_scheduler.base import EPOCH_DEPRECATION_WARNING, LRScheduler, _LRScheduler  # noqa: F401
from gpunet.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from gpunet.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from gpunet.optim.lr_scheduler.cyclic import CyclicLR
from gpunet.optim.lr_scheduler.decay import ExponentialLR, MultiStepLR, PolynomialLR, StepLR
from gpunet.optim.lr_scheduler.lambda_lr import LambdaLR, MultiplicativeLR
from gpunet.optim.lr_scheduler.one_cycle import OneCycleLR
from gpunet.optim.lr_scheduler.plateau import ReduceLROnPlateau
from gpunet.optim.lr_scheduler.warmup import ConstantLR, LinearLR

__all__ = [
    "ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
    "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "MultiplicativeLR", "OneCycleLR",
    "PolynomialLR", "ReduceLROnPlateau", "SequentialLR", "StepLR",
]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
