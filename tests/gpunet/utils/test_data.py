"""gpunet.utils.data: datasets, random_split, samplers, default_collate, DataLoader."""
import collections

import numpy as np
import pytest

import gpunet
from gpunet.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                               IterableDataset, RandomSampler, Sampler, SequentialSampler, Subset,
                               SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
                               default_convert, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    def __init__(self, n, sized=True):
        self.n, self.sized = n, sized

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.sized:
            raise TypeError("Stream has no len()")
        return self.n


def seeded(seed):
    return gpunet.Generator().manual_seed(seed)


def indices_of(loader):
    """The dataset indices a loader over TensorDataset(arange) visits, batch by batch."""
    return [batch[0].tolist() for batch in loader]


# ---- datasets -------------------------------------------------------------------------------------------
def test_tensor_dataset_indexing_and_size_check():
    x, y = gpunet.arange(12.).reshape(6, 2), gpunet.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert xi.tolist() == [8.0, 9.0] and yi.item() == 4
    with pytest.raises(AssertionError, match=r"Size mismatch between tensors: sizes along dim 0 are \[6, 5"):
        TensorDataset(x, gpunet.arange(5))


def test_dataset_base_and_concat():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__."):
        Dataset()[0]
    both = Squares(3) + Squares(4)
    assert isinstance(both, ConcatDataset) and len(both) == 7
    assert [both[i] for i in range(7)] == [0, 1, 4, 0, 1, 4, 9]
    assert both[-1] == 9 and both[-7] == 0 and both.cumulative_sizes == [3, 7]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        both[-8]
    with pytest.raises(IndexError, match="ConcatDataset index 7 out of range for length 7"):
        both[7]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Squares(2), Stream(3)])


def test_iterable_dataset_chain():
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Stream(1), Squares(2)]))


def test_subset_maps_indices_and_batches():
    sub = Subset(Squares(10), [9, 2, 5])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [81, 4, 25]
    assert sub.__getitems__([2, 0]) == [25, 81]


# ---- random_split -------------------------------------------------------------------------------------
def test_random_split_lengths_partition_and_determinism():
    ds = Squares(20)
    a, b, c = random_split(ds, [5, 7, 8], generator=seeded(3))
    assert [len(a), len(b), len(c)] == [5, 7, 8]
    assert sorted(a.indices + b.indices + c.indices) == list(range(20))
    again = random_split(ds, [5, 7, 8], generator=seeded(3))
    assert [s.indices for s in again] == [a.indices, b.indices, c.indices]
    other = random_split(ds, [5, 7, 8], generator=seeded(4))
    assert [s.indices for s in other] != [a.indices, b.indices, c.indices]
    assert a.indices != list(range(5))  # shuffled, not a prefix

    gpunet.manual_seed(11)
    first = [s.indices for s in random_split(ds, [10, 10])]
    gpunet.manual_seed(11)
    assert [s.indices for s in random_split(ds, [10, 10])] == first


def test_random_split_fractions_like_torch():
    # floor(n * frac) each, the remainder handed out round-robin from the first split
    assert [len(s) for s in random_split(range(10), [0.33, 0.33, 0.34], generator=seeded(0))] == [4, 3, 3]
    assert [len(s) for s in random_split(range(11), [0.5, 0.5], generator=seeded(0))] == [6, 5]
    assert [len(s) for s in random_split(range(30), [0.3, 0.3, 0.4], generator=seeded(0))] == [9, 9, 12]
    torch = pytest.importorskip("torch")
    for n, fracs in [(10, [0.33, 0.33, 0.34]), (7, [0.1, 0.2, 0.7]), (101, [0.25] * 4)]:
        ours = [len(s) for s in random_split(range(n), fracs, generator=seeded(0))]
        theirs = [len(s) for s in torch.utils.data.random_split(range(n), fracs)]
        assert ours == theirs


def test_random_split_errors_and_empty_split_warning():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input "
                                         "dataset!"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.25, -0.75])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0. This might result in an empty "
                                         "dataset."):
        assert [len(s) for s in random_split(range(2), [0.9, 0.1], generator=seeded(0))] == [2, 0]


# ---- samplers ----------------------------------------------------------------------------------------
def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    rs = RandomSampler(range(10), generator=seeded(1))
    first, second = list(rs), list(rs)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second  # a new order each epoch, continuing the generator's stream
    rs2 = RandomSampler(range(10), generator=seeded(1))
    assert [list(rs2), list(rs2)] == [first, second]
    assert len(rs) == 10


def test_random_sampler_num_samples_and_replacement():
    rs = RandomSampler(range(4), num_samples=10, generator=seeded(0))
    out = list(rs)
    assert len(out) == len(rs) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]  # whole permutations first
    assert len(set(out[8:])) == 2
    rep = list(RandomSampler(range(3), replacement=True, num_samples=200, generator=seeded(0)))
    assert len(rep) == 200 and set(rep) == {0, 1, 2}
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got "
                                         "num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got "
                                         "num_samples=0"):
        RandomSampler([])


def test_random_sampler_follows_manual_seed():
    gpunet.manual_seed(5)
    a = list(RandomSampler(range(50)))
    gpunet.manual_seed(5)
    assert list(RandomSampler(range(50))) == a
    assert list(RandomSampler(range(50))) != a


def test_subset_random_and_weighted_samplers():
    out = list(SubsetRandomSampler([10, 20, 30, 40], generator=seeded(2)))
    assert sorted(out) == [10, 20, 30, 40]
    w = WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=400, generator=seeded(0))
    drawn = list(w)
    assert len(drawn) == len(w) == 400 and 0 not in drawn
    assert 0.65 < drawn.count(2) / 400 < 0.85  # about 3/4
    no_rep = list(WeightedRandomSampler(gpunet.tensor([1.0, 1.0, 1.0]), 3, replacement=False,
                                        generator=seeded(0)))
    assert sorted(no_rep) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, "
                                         r"2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got "
                                         "num_samples=-1"):
        WeightedRandomSampler([1.0], -1)
    with pytest.raises(ValueError, match="replacement should be a boolean value, but got replacement=None"):
        WeightedRandomSampler([1.0], 1, replacement=None)
    with pytest.raises(ValueError, match="cannot sample num_samples=3 without replacement from 2 indices"):
        WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)


@pytest.mark.parametrize("n,bs,drop_last,expected", [(10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3),
                                                    (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0)])
def test_batch_sampler_lengths(n, bs, drop_last, expected):
    bsamp = BatchSampler(SequentialSampler(range(n)), bs, drop_last)
    batches = list(bsamp)
    assert len(bsamp) == len(batches) == expected
    assert all(len(b) == bs for b in batches[:-1])
    if expected:
        assert batches[0] == list(range(min(bs, n)))


def test_batch_sampler_errors():
    with pytest.raises(ValueError, match="should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(NotImplementedError):
        iter(Sampler())


# ---- default_collate / default_convert -------------------------------------------------------------------
def test_default_collate_structures():
    out = default_collate([1.5, 2.0])
    assert out.dtype == gpunet.float64 and out.tolist() == [1.5, 2.0]  # Python floats -> float64, as PyTorch
    assert default_collate([1, 2]).dtype == gpunet.int64
    assert default_collate([True, False]).dtype == gpunet.bool
    stacked = default_collate([gpunet.ones(2, 3), gpunet.zeros(2, 3)])
    assert stacked.shape == (2, 2, 3)
    arr = default_collate([np.ones((2,), np.float32), np.zeros((2,), np.float32)])
    assert arr.dtype == gpunet.float32 and arr.shape == (2, 2)
    assert default_collate([np.int32(1), np.int32(2)]).dtype == gpunet.int32
    assert default_collate(["a", "b"]) == ["a", "b"]

    pairs = default_collate([(gpunet.tensor([1.0]), 0, "x"), (gpunet.tensor([2.0]), 1, "y")])
    assert isinstance(pairs, list) and len(pairs) == 3  # tuples are transposed into a list
    assert pairs[0].tolist() == [[1.0], [2.0]] and pairs[1].tolist() == [0, 1] and pairs[2] == ("x", "y")

    nested = default_collate([{"img": np.zeros(3), "meta": {"id": 1, "name": "a"}},
                              {"img": np.ones(3), "meta": {"id": 2, "name": "b"}}])
    assert nested["img"].shape == (2, 3) and nested["img"].dtype == gpunet.float64
    assert nested["meta"]["id"].tolist() == [1, 2] and nested["meta"]["name"] == ["a", "b"]

    Point = collections.namedtuple("Point", "x y")
    pt = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert type(pt) is Point and pt.x.tolist() == [1, 3] and pt.y.dtype == gpunet.float64

    lists = default_collate([[1, 2], [3, 4]])
    assert [t.tolist() for t in lists] == [[1, 3], [2, 4]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, "
                                        "dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([gpunet.zeros(2), gpunet.zeros(3)])


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": (np.float64(2.0), "s"), "c": 5})
    assert out["a"].tolist() == [0, 1, 2] and out["a"].dtype == gpunet.int64
    assert isinstance(out["b"], list) and out["b"][0].item() == 2.0 and out["b"][1] == "s"
    assert out["c"] == 5
    t = gpunet.ones(2)
    assert default_convert(t) is t


def test_default_collate_matches_torch():
    torch = pytest.importorskip("torch")
    Point = collections.namedtuple("Point", "x y")
    batches = [
        [1.5, 2.0], [1, 2], [True, False], [1, 2.5],
        [np.float32(1), np.float32(2)], [np.array(1.0), np.array(2.0)],
        [(1, "a", [2.0, 3.0]), (4, "b", [5.0, 6.0])],
        [{"x": 1, "y": np.arange(4.0).reshape(2, 2)}, {"x": 2, "y": np.ones((2, 2))}],
        [Point(1, [2, 3]), Point(4, [5, 6])],
    ]

    def same(ours, theirs):
        if isinstance(theirs, torch.Tensor):
            assert isinstance(ours, gpunet.Tensor)
            assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
            assert ours.tolist() == theirs.tolist()
        elif isinstance(theirs, dict):
            assert type(ours) is type(theirs) and ours.keys() == theirs.keys()
            for k in theirs:
                same(ours[k], theirs[k])
        elif isinstance(theirs, (list, tuple)):
            assert type(ours) is type(theirs) and len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                same(a, b)
        else:
            assert ours == theirs

    for batch in batches:
        same(default_collate(batch), torch.utils.data.default_collate(batch))


# ---- DataLoader ---------------------------------------------------------------------------------------
def arange_ds(n):
    return TensorDataset(gpunet.arange(n))


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True),
                                            (1, 4, False), (1, 4, True), (7, 1, False)])
def test_loader_len_and_sequential_batches(n, bs, drop_last):
    loader = DataLoader(arange_ds(n), batch_size=bs, drop_last=drop_last)
    batches = indices_of(loader)
    expected_len = n // bs if drop_last else -(-n // bs)
    assert len(loader) == len(batches) == expected_len
    flat = [i for b in batches for i in b]
    assert flat == list(range(len(flat)))
    assert len(flat) == (expected_len * bs if drop_last else n)


def test_loader_shuffle_reproducible_with_generator():
    ds = arange_ds(17)
    a = DataLoader(ds, batch_size=5, shuffle=True, generator=seeded(42))
    b = DataLoader(ds, batch_size=5, shuffle=True, generator=seeded(42))
    a1, a2 = indices_of(a), indices_of(a)
    assert [indices_of(b), indices_of(b)] == [a1, a2]
    assert a1 != a2  # a new order every epoch
    assert sorted(i for batch in a1 for i in batch) == list(range(17))
    assert a1 != indices_of(DataLoader(ds, batch_size=5))  # really shuffled
    assert isinstance(a.sampler, RandomSampler)


def test_loader_shuffle_reproducible_with_manual_seed():
    ds = arange_ds(30)
    gpunet.manual_seed(7)
    first = indices_of(DataLoader(ds, batch_size=4, shuffle=True))
    gpunet.manual_seed(7)
    assert indices_of(DataLoader(ds, batch_size=4, shuffle=True)) == first
    gpunet.manual_seed(8)
    assert indices_of(DataLoader(ds, batch_size=4, shuffle=True)) != first


def test_loader_sampler_batch_sampler_and_collate_fn():
    ds = arange_ds(10)
    loader = DataLoader(ds, batch_size=2, sampler=[9, 8, 7, 6, 5])
    assert indices_of(loader) == [[9, 8], [7, 6], [5]] and len(loader) == 3
    loader = DataLoader(ds, batch_sampler=[[0, 1, 2], [5], [3, 4]])
    assert indices_of(loader) == [[0, 1, 2], [5], [3, 4]] and loader.batch_size is None
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda batch: sum(batch))
    assert list(loader) == [1, 13, 16]


def test_loader_unbatched_and_dict_samples():
    loader = DataLoader([np.arange(2), np.arange(2) + 5], batch_size=None)
    out = list(loader)
    assert len(loader) == 2 and isinstance(out[0], gpunet.Tensor) and out[1].tolist() == [5, 6]
    samples = [{"x": np.full(3, i, np.float32), "label": i} for i in range(5)]
    batches = list(DataLoader(samples, batch_size=2))
    assert batches[0]["x"].shape == (2, 3) and batches[0]["x"].dtype == gpunet.float32
    assert batches[2]["label"].tolist() == [4]


def test_loader_uses_getitems_when_dataset_has_it():
    class Batched(Squares):
        calls = 0

        def __getitems__(self, indices):
            Batched.calls += 1
            return [i * i for i in indices]

    assert [t.tolist() for t in DataLoader(Batched(5), batch_size=2)] == [[0, 1], [4, 9], [16]]
    assert Batched.calls == 3


def test_loader_fetches_tensor_dataset_batches_by_one_indexing(monkeypatch):
    """A TensorDataset with default_collate (or Subsets of one) is batched as t[rows] per tensor: the same
    batches (values, dtypes, shapes, order, repeated rows, the list type) as indexing each sample and
    stacking."""
    gen = np.random.default_rng(3)
    x = gpunet.tensor(gen.standard_normal((11, 2, 3)).astype(np.float32), requires_grad=True)
    y = gpunet.tensor(gen.integers(0, 5, 11))
    ds = TensorDataset(x, y)

    def general(batch):  # not default_collate itself: the per-sample path
        return default_collate(batch)

    cases = [lambda: {"batch_size": 4}, lambda: {"batch_size": 4, "drop_last": True},
             lambda: {"batch_size": 3, "sampler": RandomSampler(ds, replacement=True, num_samples=9,
                                                                generator=seeded(1))},
             lambda: {"batch_sampler": [(2, 0, 2), [10], range(3, 6)]}]
    for kwargs in cases:
        want = list(DataLoader(ds, collate_fn=general, **kwargs()))
        sampled = []
        monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: sampled.append(i))
        got = list(DataLoader(ds, **kwargs()))
        monkeypatch.undo()
        assert sampled == [] and len(got) == len(want)
        for g, w in zip(got, want):
            assert type(g) is list and len(g) == 2
            for a, b in zip(g, w):
                assert a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()
    # through Subsets (random_split's, and a Subset of one) the rows are the subset's indices
    part = random_split(ds, [7, 4], generator=seeded(2))[0]
    for subset in (part, Subset(part, [6, 0, 3, 3])):
        want = list(DataLoader(subset, batch_size=3, collate_fn=general))
        monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: sampled.append(i))
        got = list(DataLoader(subset, batch_size=3))
        monkeypatch.undo()
        assert sampled == [] and [[t.tolist() for t in b] for b in got] == [[t.tolist() for t in b]
                                                                             for b in want]
    sum(batch[0].sum() for batch in DataLoader(ds, batch_size=5)).backward()  # rows keep their graph
    assert x.grad.tolist() == np.ones((11, 2, 3)).tolist()
    one = TensorDataset(y)
    assert [b[0].tolist() for b in DataLoader(one, batch_size=6)] == [y[:6].tolist(), y[6:].tolist()]


def test_loader_iterable_dataset_batching():
    loader = DataLoader(Stream(10), batch_size=4)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(loader) == 3
    loader = DataLoader(Stream(10), batch_size=4, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(loader) == 2
    loader = DataLoader(Stream(3), batch_size=None)
    assert [b for b in loader] == [0, 1, 2] and len(loader) == 3
    unsized = DataLoader(Stream(3, sized=False), batch_size=2)
    assert [b.tolist() for b in unsized] == [[0, 1], [2]]
    with pytest.raises(TypeError):
        len(unsized)


def test_loader_option_errors():
    ds = arange_ds(4)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with batch_size, "
                                         "shuffle, sampler, and drop_last"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], drop_last=True)
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching and is mutually "
                                         "exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified shuffle "
                                         "option, but got shuffle=True"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=[0])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(Stream(3), batch_sampler=[[0]])
    with pytest.raises(ValueError, match="num_workers option should be non-negative; use num_workers=0"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="should be a positive integer value, but got batch_size=0"):
        DataLoader(ds, batch_size=0)
    loader = DataLoader(ds, batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is "
                                         "initialized"):
        loader.batch_size = 3
    loader.num_workers = 0  # other attributes stay settable


def test_loader_pin_memory_is_a_no_op():
    loader = DataLoader(arange_ds(3), batch_size=3, pin_memory=True)
    (batch,) = list(loader)
    assert batch[0].tolist() == [0, 1, 2]
