"""gpunet.nn.parallel: DistributedDataParallel (over gpunet.distributed) and a one-device DataParallel."""
from gpunet.nn.parallel.data_parallel import DataParallel
from gpunet.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
