"""DistributedSampler: each rank visits its own share of the dataset (torch.utils.data.distributed).

Every rank draws the same permutation (a generator seeded with seed + epoch; call set_epoch each epoch
for a new order), pads it by repeating its head so its length divides evenly (or, with drop_last,
cuts the tail), and keeps every num_replicas-th index starting at its rank.
"""
import math

from gpunet import distributed as dist
from gpunet.ops.creation import randperm
from gpunet.random import Generator
from gpunet.utils.data.sampler import Sampler


class DistributedSampler(Sampler):
    """Indices for rank `rank` of `num_replicas` (both default to the default process group's)."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # drop the uneven tail
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            generator = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=generator).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch the next iteration draws its permutation for (the same on every rank)."""
        self.epoch = epoch
