"""Creation functions vs torch: shapes, dtypes, values where deterministic; legacy constructors; seeding."""
from functools import partial

import numpy as np
import pytest

import gpunet

CASES = {
    "tensor_float": lambda m: m.tensor([[1.0, 2.0], [3.0, 4.5]]),
    "tensor_int": lambda m: m.tensor([1, 2, 3]),
    "tensor_bool": lambda m: m.tensor([True, False]),
    "tensor_mixed": lambda m: m.tensor([1, 2.5, True]),
    "tensor_scalar": lambda m: m.tensor(3.5),
    "tensor_int_scalar": lambda m: m.tensor(3),
    "tensor_empty": lambda m: m.tensor([]),
    "tensor_dtype": lambda m: m.tensor([1, 2], dtype=m.float64),
    "tensor_np_f64": lambda m: m.tensor(np.array([1.0, 2.0])),
    "tensor_np_i32": lambda m: m.tensor(np.array([1, 2], dtype=np.int32)),
    "tensor_tuple": lambda m: m.tensor(((1, 2), (3, 4))),
    "tensor_of_0d_tensors": lambda m: m.tensor([m.tensor(1.5), m.tensor(2.5)]),
    "as_tensor_list": lambda m: m.as_tensor([1.0, 2.0]),
    "as_tensor_dtype": lambda m: m.as_tensor([1, 2], dtype=m.float16),
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((2, 3), dtype=m.int32),
    "zeros_0d": lambda m: m.zeros(()),
    "zeros_empty": lambda m: m.zeros(0, 3),
    "ones": lambda m: m.ones(4, dtype=m.bool),
    "ones_list": lambda m: m.ones([2, 2]),
    "full_float": lambda m: m.full((2, 2), 1.5),
    "full_int": lambda m: m.full((2,), 7),
    "full_bool": lambda m: m.full((2,), True),
    "full_dtype": lambda m: m.full((2,), 7, dtype=m.float64),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 4, dtype=m.int64),
    "arange_int": lambda m: m.arange(5),
    "arange_start": lambda m: m.arange(2, 9, 3),
    "arange_float": lambda m: m.arange(0, 1, 0.25),
    "arange_neg": lambda m: m.arange(5, 0, -2),
    "arange_float_end": lambda m: m.arange(3.0),
    "arange_dtype": lambda m: m.arange(4, dtype=m.float64),
    "linspace": lambda m: m.linspace(0, 1, 5),
    "linspace_one": lambda m: m.linspace(2, 3, 1),
    "logspace": lambda m: m.logspace(0, 2, 3),
    "logspace_base2": lambda m: m.logspace(0, 3, 4, base=2.0),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3, dtype=m.int16)),
    "ones_like_dtype": lambda m: m.ones_like(m.ones(2), dtype=m.float64),
    "full_like": lambda m: m.full_like(m.ones(2, dtype=m.int64), 3),
    "full_like_float_into_int": lambda m: m.full_like(m.ones(2, dtype=m.int64), 3.7),
    "empty_shape": lambda m: m.empty(2, 3).shape,
    "empty_like_dtype": lambda m: m.empty_like(m.ones(2, dtype=m.int8)).dtype,
    "new_zeros": lambda m: m.ones(2, dtype=m.float64).new_zeros(3),
    "new_ones": lambda m: m.ones(2, dtype=m.int32).new_ones((2, 2)),
    "new_full": lambda m: m.ones(2).new_full((3,), 2.0),
    "new_tensor": lambda m: m.ones(2, dtype=m.float64).new_tensor([1, 2]),
    "Tensor_data": lambda m: m.Tensor([1, 2]),
    "Tensor_sizes": lambda m: m.Tensor(2, 3),
    "Tensor_empty": lambda m: m.Tensor(),
    "FloatTensor": lambda m: m.FloatTensor([1, 2]),
    "DoubleTensor": lambda m: m.DoubleTensor([1.5]),
    "LongTensor": lambda m: m.LongTensor([1, 2]),
    "LongTensor_size": lambda m: m.LongTensor(3).shape,
    "IntTensor": lambda m: m.IntTensor([1, 2]),
    "ShortTensor": lambda m: m.ShortTensor([1, 2]),
    "ByteTensor": lambda m: m.ByteTensor([1, 255]),
    "BoolTensor": lambda m: m.BoolTensor([True, False]),
    "BoolTensor_size": lambda m: m.BoolTensor(2, 2).shape,
    "FloatTensor_size": lambda m: m.FloatTensor(2, 3).shape,
    "randint_high_size": lambda m: m.randint(5, (2, 3)).shape,
    "randint_dtype": lambda m: m.randint(0, 5, (2,), dtype=m.int32).dtype,
    "randperm_dtype": lambda m: m.randperm(4, dtype=m.int32).dtype,
    "rand_dtype": lambda m: m.rand(2, dtype=m.float64).dtype,
    "randn_shape": lambda m: m.randn((2, 3)).shape,
    "empty_int": lambda m: m.empty(2, dtype=m.int64).dtype,
}


def _describe(x):
    if isinstance(x, tuple):  # a Size
        return ("size", tuple(x))
    if not hasattr(x, "shape"):
        return ("dtype", str(x).replace("torch.", "").replace("gpunet.", ""))
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else x
    return tuple(x.shape), str(x.dtype).replace("torch.", "").replace("gpunet.", ""), np.asarray(arr).tolist()


_FACTORIES = frozenset({"tensor", "as_tensor", "zeros", "ones", "full", "eye", "arange", "linspace",
                        "logspace", "empty", "rand", "randn", "randint", "randperm"})


class _On:
    """gpunet with the factory functions that take `device` bound to one device."""

    def __init__(self, device):
        self.device = device

    def __getattr__(self, name):
        fn = getattr(gpunet, name)
        return partial(fn, device=self.device) if name in _FACTORIES else fn


@pytest.mark.parametrize("name", sorted(CASES))
def test_creation_matches_torch(name, device):
    torch = pytest.importorskip("torch")
    if device != "cpu" and name[0].isupper():
        pytest.skip("FloatTensor, LongTensor, ... are cpu tensor types")
    out = CASES[name](_On(device))
    if isinstance(out, gpunet.Tensor):
        assert out.device.type == device
    mine, ref = _describe(out), _describe(CASES[name](torch))
    if name.startswith(("empty", "Tensor_sizes", "LongTensor_size")) or "size" in name:
        mine, ref = mine[:2], ref[:2]  # uninitialised memory
    assert mine[:2] == ref[:2]
    if len(mine) == 3:
        np.testing.assert_allclose(np.asarray(mine[2], dtype=np.float64),
                                   np.asarray(ref[2], dtype=np.float64), rtol=1e-6, err_msg=name)


def test_creation_values_without_torch(device):
    assert gpunet.tensor([[1, 2], [3, 4]], device=device).dtype == gpunet.int64
    assert gpunet.tensor([1.0], device=device).dtype == gpunet.float32
    assert gpunet.tensor([True], device=device).dtype == gpunet.bool
    assert gpunet.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert gpunet.arange(5, device=device).dtype == gpunet.int64
    assert gpunet.arange(0, 1, 0.25, device=device).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert gpunet.linspace(0, 1, 5, device=device).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert gpunet.eye(2, device=device).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert gpunet.full((2,), 7, device=device).dtype == gpunet.int64
    assert gpunet.full((2,), 1.5, device=device).dtype == gpunet.float32
    assert gpunet.zeros(2, 3, device=device).shape == (2, 3) and gpunet.ones((), device=device).shape == ()
    assert gpunet.Tensor(2, 3).shape == (2, 3) and gpunet.Tensor([1, 2]).dtype == gpunet.float32
    assert gpunet.LongTensor([1.7]).tolist() == [1]
    assert isinstance(gpunet.ones(2, dtype=gpunet.int64), gpunet.LongTensor)  # LongTensor is a cpu type
    assert not isinstance(gpunet.ones(2), gpunet.LongTensor)
    assert isinstance(gpunet.FloatTensor(2), gpunet.Tensor)


def test_keywords(device):
    x = gpunet.zeros(2, dtype=gpunet.float64, device=device, requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.dtype == gpunet.float64 and x.device.type == device
    for f in (gpunet.ones, gpunet.empty, gpunet.rand, gpunet.randn):
        t = f(2, 2, requires_grad=True, device=device)
        assert t.requires_grad and t.grad_fn is None
    assert gpunet.tensor([1.0], requires_grad=True, device=device).requires_grad
    assert gpunet.full((1,), 2.0, requires_grad=True, device=device).requires_grad
    assert gpunet.eye(2, requires_grad=True, device=device).requires_grad
    assert gpunet.arange(3.0, requires_grad=True, device=device).requires_grad


def test_requires_grad_on_integer_tensor_raises(device):
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        gpunet.tensor([1, 2], requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="floating point"):
        gpunet.zeros(2, dtype=gpunet.int64, device=device).requires_grad_()


def test_from_numpy_shares_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = gpunet.from_numpy(a)
    assert t.dtype == gpunet.float64
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t[1, 1] = -1.0
    assert a[1, 1] == -1.0
    assert gpunet.as_tensor(a).numpy() is a or np.shares_memory(gpunet.as_tensor(a).numpy(), a)
    assert not np.shares_memory(gpunet.tensor(a).numpy(), a)
    assert not np.shares_memory(gpunet.as_tensor(a, dtype=gpunet.float32).numpy(), a)
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)
    with pytest.raises(TypeError, match="expected np.ndarray"):
        gpunet.from_numpy([1, 2])


def test_tensor_copies_tensor_and_as_tensor_does_not(device):
    x = gpunet.ones(3, device=device)
    assert gpunet.as_tensor(x) is x
    y = gpunet.tensor(x)
    assert y.device.type == device  # a copy on the source's device
    y[0] = 5.0
    assert x[0].item() == 1.0
    z = gpunet.ones(2, requires_grad=True, device=device)
    assert not gpunet.tensor(z).requires_grad and gpunet.tensor(z).is_leaf


def test_creation_errors(device):
    with pytest.raises(RuntimeError, match="negative dimension"):
        gpunet.zeros(-1, device=device)
    with pytest.raises(TypeError):
        gpunet.tensor("abc", device=device)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        gpunet.arange(0, 1, 0, device=device)
    with pytest.raises(RuntimeError, match="upper bound and larger bound inconsistent with step sign"):
        gpunet.arange(0, 5, -1, device=device)
    with pytest.raises((ValueError, TypeError)):
        gpunet.tensor([[1, 2], [3]], device=device)


# ---- random --------------------------------------------------------------------------------------
def test_random_shapes_dtypes_ranges(device):
    gpunet.manual_seed(0)
    r = gpunet.rand(1000, device=device)
    assert r.dtype == gpunet.float32 and 0 <= r.min().item() and r.max().item() < 1
    n = gpunet.randn(2000, dtype=gpunet.float64, device=device)
    assert n.dtype == gpunet.float64 and abs(n.mean().item()) < 0.1 and abs(n.std().item() - 1) < 0.1
    i = gpunet.randint(3, 7, (500,), device=device)
    assert i.dtype == gpunet.int64 and set(i.tolist()) == {3, 4, 5, 6}
    assert gpunet.randint(5, (2, 2), device=device).shape == (2, 2)
    p = gpunet.randperm(10, device=device)
    assert p.dtype == gpunet.int64 and sorted(p.tolist()) == list(range(10))
    x = gpunet.ones(3, 4, dtype=gpunet.float64, device=device)
    for like in (gpunet.rand_like(x), gpunet.randn_like(x)):
        assert like.shape == (3, 4) and like.dtype == gpunet.float64
    ri = gpunet.randint_like(x, 0, 3)
    assert ri.shape == (3, 4) and ri.dtype == gpunet.float64
    assert gpunet.rand(2, 3, dtype=gpunet.float16, device=device).dtype == gpunet.float16


def test_manual_seed_reproducible(device):
    draws = []
    for _ in range(2):
        gpunet.manual_seed(123)
        draws.append([gpunet.rand(5, device=device).tolist(), gpunet.randn(3, device=device).tolist(),
                      gpunet.randint(0, 100, (4,), device=device).tolist(),
                      gpunet.randperm(6, device=device).tolist(),
                      gpunet.empty(3, device=device).normal_().tolist(),
                      gpunet.empty(3, device=device).uniform_(-1, 1).tolist()])
    assert draws[0] == draws[1]
    gpunet.manual_seed(124)
    assert gpunet.rand(5, device=device).tolist() != draws[0][0]


def test_cuda_manual_seed_independent_of_cpu():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    gpunet.manual_seed(5)
    a = gpunet.rand(3, device="cuda").tolist()
    assert gpunet.rand(3, device="cuda").tolist() != a  # the generator advances
    gpunet.cuda.manual_seed(5)
    gpunet.rand(3)  # drawing on the cpu does not advance the cuda generator
    assert gpunet.rand(3, device="cuda").tolist() == a


def test_generator_objects():
    g = gpunet.Generator().manual_seed(7)
    a = gpunet.rand(4, generator=g).tolist()
    g.manual_seed(7)
    assert gpunet.rand(4, generator=g).tolist() == a
    state = g.get_state()
    b = gpunet.randperm(5, generator=g).tolist()
    g.set_state(state)
    assert gpunet.randperm(5, generator=g).tolist() == b
    assert gpunet.manual_seed(3).initial_seed() == 3 and gpunet.initial_seed() == 3


@pytest.mark.parametrize("row,col,offset", [(3, 3, 0), (3, 4, 1), (4, 3, -1), (2, 5, -3), (0, 3, 0)])
def test_tril_and_triu_indices(row, col, offset):
    """Row by row, as numpy's tril_indices / triu_indices (with m = col)."""
    for fn, numpy_fn in ((gpunet.tril_indices, np.tril_indices), (gpunet.triu_indices, np.triu_indices)):
        got = fn(row, col, offset)
        assert got.dtype == gpunet.int64 and got.shape[0] == 2
        assert got.tolist() == [list(r) for r in numpy_fn(row, offset, col)]
    assert gpunet.tril_indices(3, 3, dtype=gpunet.int32).dtype == gpunet.int32
    with pytest.raises(RuntimeError, match="int32 and int64"):
        gpunet.triu_indices(3, 3, dtype=gpunet.float32)
