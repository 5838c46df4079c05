"""The worker-process side of multi-process loading: WorkerInfo, get_worker_info and the worker loop.

A worker is seeded with base_seed + worker_id (Python's `random`, gpunet's generators and NumPy's legacy
global generator), runs worker_init_fn(worker_id), then answers (epoch, task, index) messages from its
index queue with (epoch, task, batch) on the shared result queue until it receives None.
"""
import os
import queue
import random
import sys
import traceback

import numpy as np

from gpunet.random import manual_seed
from gpunet.utils.data.fetch import make_fetcher

_STATUS_CHECK_INTERVAL = 5.0  # seconds between checks that the main process is still alive

_worker_info = None


class WorkerInfo:
    """id, num_workers, seed and dataset (this process's copy) of the current worker."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):  # noqa: A002  (PyTorch's attribute name)
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


def get_worker_info():
    """The WorkerInfo inside a DataLoader worker process; None in the main process.

    Use it in an IterableDataset's __iter__ (or in worker_init_fn) to give each worker its own share
    of the data: every worker iterates its own copy of the dataset."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback as text."""

    def __init__(self, where):
        exc_type, exc, _ = sys.exc_info()
        self.exc_type = exc_type
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, exc.__traceback__))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyError(msg)  # KeyError repr()s its message; keep the traceback readable
        try:
            exc = self.exc_type(msg)
        except Exception:  # an exception type whose constructor needs other arguments
            raise RuntimeError(msg) from None
        raise exc


class Exhausted:
    """Sent instead of a batch once a worker's copy of an IterableDataset has run out."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


def _seed_worker(seed, worker_id):
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(1)[0])


def worker_loop(dataset_kind, dataset, index_queue, result_queue, auto_collation, collate_fn, drop_last,
                base_seed, worker_init_fn, worker_id, num_workers, parent_pid):
    """Body of one worker process (module level, so that the spawn start method can import it)."""
    global _worker_info
    try:
        seed = base_seed + worker_id
        _seed_worker(seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        fetcher = None
        try:
            if worker_init_fn is not None:
                worker_init_fn(worker_id)
            fetcher = make_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")

        while True:
            try:
                message = index_queue.get(timeout=_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the main process is gone
                    break
                continue
            if message is None:
                break
            if message[0] == "resume":  # a new epoch with persistent workers: iterate the dataset afresh
                try:
                    fetcher = make_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
                except Exception:
                    init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
                continue
            epoch, task, index = message
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    data = Exhausted(worker_id)
                except Exception:
                    data = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
            result_queue.put((epoch, task, data))
            del data, index, message  # don't keep a batch alive while waiting for the next task
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C and shuts the workers down
    result_queue.cancel_join_thread()
    result_queue.close()
