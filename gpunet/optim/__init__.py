"""gpunet.optim: Optimizer, the algorithms (each calling its fused kernel), lr_scheduler."""
from gpunet.optim.optimizer import *  # noqa: F401,F403
from gpunet.optim import lr_scheduler  # noqa: F401,E402
