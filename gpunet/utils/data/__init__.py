"""gpunet.utils.data: Dataset, DataLoader, samplers, random_split (torch.utils.data)."""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.utils.data.collate import default_collate, default_convert
from gpunet.utils.data.dataloader import DataLoader
from gpunet.utils.data.distributed import DistributedSampler
from gpunet.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                                       TensorDataset, random_split)
from gpunet.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                       SubsetRandomSampler, WeightedRandomSampler)
from gpunet.utils.data.worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler",
    "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
    "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
    "get_worker_info", "random_split",
]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
