"""gpunet.utils.data's worker processes (DataLoader(num_workers > 0)): the same batches as in process,
worker info and seeds, iterable sharding, errors, persistent workers, timeouts and deaths, start methods."""
import os
import time

import pytest

import gpunet
from gpunet.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from tests.gpunet.utils.test_data import Stream, arange_ds, indices_of, seeded


class WhoLoads(Dataset):
    """Sample i -> (i, worker id, worker seed, a draw from the worker's gpunet generator)."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return i, info.id, info.seed, float(gpunet.rand(1).item())


class ShardedStream(IterableDataset):
    """Each worker yields every num_workers-th item, as the get_worker_info docs recommend."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


class Faulty(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"bad sample {i}")
        return i


def test_workers_give_the_same_batches_as_in_process():
    ds = arange_ds(23)
    for kwargs in [{"batch_size": 4}, {"batch_size": 4, "drop_last": True}, {"batch_size": None}]:
        expected = [b[0].tolist() if isinstance(b, list) else b.tolist() for b in DataLoader(ds, **kwargs)]
        loader = DataLoader(ds, num_workers=2, **kwargs)
        got = [b[0].tolist() if isinstance(b, list) else b.tolist() for b in loader]
        assert got == expected
    # the same seeded generator gives the same shuffled order with or without workers
    in_process = indices_of(DataLoader(ds, batch_size=5, shuffle=True, generator=seeded(9)))
    workers = indices_of(DataLoader(ds, batch_size=5, shuffle=True, generator=seeded(9), num_workers=3,
                                    prefetch_factor=1))
    assert workers == in_process


def test_workers_are_processes_with_info_seeds_and_init_fn():
    calls = []
    loader = DataLoader(WhoLoads(), batch_size=2, num_workers=2, generator=seeded(0),
                        worker_init_fn=lambda worker_id: calls.append(worker_id))
    batches = list(loader)
    assert [b[0].tolist() for b in batches] == [[2 * k, 2 * k + 1] for k in range(6)]
    worker_ids = [b[1].tolist() for b in batches]
    assert worker_ids == [[0, 0], [1, 1]] * 3  # round-robin over the workers
    seeds = {b[1][0].item(): b[2][0].item() for b in batches}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    draws = [x for b in batches for x in b[3].tolist()]
    assert len(set(draws)) == len(draws)  # workers are seeded differently
    assert calls == []  # worker_init_fn ran in the workers, not here
    assert get_worker_info() is None
    again = [x for b in DataLoader(WhoLoads(), batch_size=2, num_workers=2, generator=seeded(0)) for x in
             b[3].tolist()]
    assert again == draws  # reproducible from the loader's generator


def test_workers_iterable_dataset_sharding_and_replicas():
    loader = DataLoader(ShardedStream(10), batch_size=2, num_workers=2)
    batches = [b.tolist() for b in loader]
    assert sorted(x for b in batches for x in b) == list(range(10))
    assert batches[:2] == [[0, 2], [1, 3]]  # one batch from each worker in turn
    unbatched = sorted(DataLoader(Stream(5), batch_size=None, num_workers=2))
    assert unbatched == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # without sharding every worker yields everything
    dropped = [b.tolist() for b in DataLoader(ShardedStream(7), batch_size=3, num_workers=2, drop_last=True)]
    assert dropped == [[0, 2, 4], [1, 3, 5]]


def test_worker_exception_is_reraised_with_its_type():
    loader = DataLoader(Faulty(), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0, 1]
    assert next(it).tolist() == [2, 3]
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker process 0\.(.|\n)*bad "
                                         r"sample 5"):
        next(it)
    assert next(it).tolist() == [6, 7]  # the iterator goes on after an error in one batch
    with pytest.raises(StopIteration):
        next(it)


def test_persistent_workers_and_out_of_order():
    loader = DataLoader(arange_ds(9), batch_size=2, num_workers=2, persistent_workers=True)
    first = indices_of(loader)
    workers = list(loader._iterator._workers)
    it = iter(loader)
    next(it)  # abandon an epoch half way
    assert indices_of(loader) == first == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    assert loader._iterator._workers == workers and all(w.is_alive() for w in workers)
    stream = DataLoader(ShardedStream(6), batch_size=2, num_workers=2, persistent_workers=True)
    assert [sorted(x for b in stream for x in b.tolist()) for _ in range(2)] == [list(range(6))] * 2
    unordered = DataLoader(arange_ds(9), batch_size=2, num_workers=2, in_order=False)
    assert sorted(indices_of(unordered)) == first
    loader._iterator.shutdown()
    stream._iterator.shutdown()
    assert not any(w.is_alive() for w in workers)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_copy_of_persistent_workers_leaves_them_alone():
    """A fork (another loader's worker, say) that collects its copy of a persistent loader must not stop
    the owner's workers nor fail joining processes that are not its children."""
    loader = DataLoader(arange_ds(6), batch_size=2, num_workers=2, persistent_workers=True)
    first = indices_of(loader)
    pid = os.fork()
    if pid == 0:  # the child: what its garbage collector would run
        code = 0
        try:
            loader._iterator.shutdown()
            loader.__del__()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert indices_of(loader) == first and all(w.is_alive() for w in loader._iterator._workers)
    loader._iterator.shutdown()


def test_worker_timeout_and_death(monkeypatch):
    import gpunet.utils.data.multiprocessing_iter as mpi
    monkeypatch.setattr(mpi, "_POLL_INTERVAL", 0.2)  # liveness checks and shutdown joins, sped up

    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(1)
            return i

    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.3))

    class Dies(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            os._exit(3)

    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=1))


def test_spawn_start_method_and_context_errors():
    loader = DataLoader(arange_ds(5), batch_size=2, num_workers=1, multiprocessing_context="spawn")
    assert indices_of(loader) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="multiprocessing_context option should specify a valid start method "
                                         "in"):
        DataLoader(arange_ds(5), num_workers=1, multiprocessing_context="teleport")
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context object"):
        DataLoader(arange_ds(5), num_workers=1, multiprocessing_context=3)
    with pytest.raises(ValueError, match="multiprocessing_context can only be used with multi-process"):
        DataLoader(arange_ds(5), multiprocessing_context="spawn")


