"""DataLoader: batches of samples from a Dataset (torch.utils.data.DataLoader).

num_workers=0 loads in the calling process; num_workers > 0 starts that many worker processes
(multiprocessing, the platform's default start method or multiprocessing_context), each with its own
copy of the dataset, seeded base_seed + worker_id, running worker_init_fn first; see worker.py and
multiprocessing_iter.py. pin_memory is accepted and does nothing.
"""
import multiprocessing

from gpunet.backend import CPU
from gpunet.random import rng_for
from gpunet.utils.data.collate import default_collate, default_convert
from gpunet.utils.data.dataset import IterableDataset
from gpunet.utils.data.fetch import make_fetcher
from gpunet.utils.data.multiprocessing_iter import MultiProcessingIter
from gpunet.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: yields None forever (the dataset's iterator decides the end)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over `dataset` in batches of batch_size (None: one unbatched sample at a time).

    shuffle=True draws a new order every epoch from `generator` (or the global generator seeded by
    gpunet.manual_seed); `sampler` or `batch_sampler` choose indices instead; collate_fn merges a list
    of samples (default_collate). len(loader) is the number of batches.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                             "to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        _check_multiprocessing_context(multiprocessing_context, num_workers)

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler "
                                 f"option, but got batch_sampler={batch_sampler}")
        else:
            self._dataset_kind = "map"
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")

        if sampler is None:
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator = None  # the persistent workers' iterator
        self._initialized = True

    def __setattr__(self, attr, value):
        if self.__dict__.get("_initialized") and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, value)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self._dataset_kind == "iterable":
            length = len(self.dataset)  # TypeError if the IterableDataset has no __len__
            if self.batch_size is not None:
                full, rest = divmod(length, self.batch_size)
                length = full if self.drop_last or rest == 0 else full + 1
            return length
        return len(self._index_sampler)

    def __iter__(self):
        # one draw per epoch, whatever num_workers is, so the shuffling order does not depend on it
        gen = self.generator._rng if self.generator is not None else rng_for(CPU)
        base_seed = int(gen.integers(0, 2 ** 62))
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return MultiProcessingIter(self, base_seed)
        if self._iterator is None:
            self._iterator = MultiProcessingIter(self, base_seed)
            return self._iterator
        return self._iterator.reset()

    def __del__(self):
        if self.__dict__.get("_iterator") is not None:
            self._iterator.shutdown()


class _SingleProcessIter:
    """Batches fetched in the calling process."""

    def __init__(self, loader):
        self._sampler_iter = iter(loader._index_sampler)
        self._fetcher = make_fetcher(loader._dataset_kind, loader.dataset, loader._auto_collation,
                                     loader.collate_fn, loader.drop_last)

    def __iter__(self):
        return self

    def __next__(self):
        index = next(self._sampler_iter)  # StopIteration ends a map-style epoch
        return self._fetcher.fetch(index)  # StopIteration ends an iterable one


def _check_multiprocessing_context(ctx, num_workers):
    if ctx is None:
        return
    if num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading "
                         f"(num_workers > 0), but got num_workers={num_workers}")
    if isinstance(ctx, str):
        valid = multiprocessing.get_all_start_methods()
        if ctx not in valid:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in "
                             f"{valid!r}, but got multiprocessing_context={ctx!r}")
    elif not isinstance(ctx, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string "
                        f"specifying the start method, but got multiprocessing_context={ctx}")
