"""DistributedSampler without MPI: num_replicas and rank given, as each rank of a job computes them."""
import pytest

import gpunet.distributed as dist
import gpunet.utils.data as data
from gpunet.utils.data.distributed import DistributedSampler


def shares(n, replicas, **kwargs):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kwargs))
            for r in range(replicas)]


def test_ranks_split_a_padded_permutation_that_every_rank_draws_alike():
    parts = shares(10, 3, seed=5)
    assert [len(p) for p in parts] == [4, 4, 4]
    flat = [i for p in parts for i in p]
    assert sorted(set(flat)) == list(range(10)) and len(flat) == 12  # two indices repeated as padding
    assert parts == shares(10, 3, seed=5)  # the same permutation on every rank, every time
    assert parts != shares(10, 3, seed=6)


def test_unshuffled_shares_follow_pytorchs_assignment():
    assert shares(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert shares(10, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert shares(2, 5, shuffle=False) == [[0], [1], [0], [1], [0]]  # padding longer than the data
    assert len(DistributedSampler(range(10), num_replicas=3, rank=0, drop_last=True)) == 3


def test_set_epoch_reshuffles_the_same_way_on_every_rank():
    samplers = [DistributedSampler(range(20), num_replicas=2, rank=r) for r in range(2)]
    first = [list(s) for s in samplers]
    for s in samplers:
        s.set_epoch(1)
    second = [list(s) for s in samplers]
    assert first != second
    assert sorted(second[0] + second[1]) == list(range(20))


def test_rank_and_world_come_from_the_process_group():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    if not dist.is_initialized():
        with pytest.raises(RuntimeError, match="init_process_group"):
            DistributedSampler(range(4))
    assert data.DistributedSampler is DistributedSampler
    loader = data.DataLoader(list(range(8)), batch_size=2,
                             sampler=DistributedSampler(range(8), num_replicas=2, rank=1, shuffle=False))
    assert [b.tolist() for b in loader] == [[1, 3], [5, 7]]
