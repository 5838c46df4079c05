"""gpunet.nn.parallel: DistributedDataParallel (over gpunet.distributed) and a one-device DataParallel."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.nn.parallel.data_parallel import DataParallel
from gpunet.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
