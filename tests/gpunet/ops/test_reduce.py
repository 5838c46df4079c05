"""Reductions with dim / keepdim / negative dims / 0-d inputs: values and gradients vs torch and
finite differences."""
import numpy as np
import pytest

import gpunet

from tests.helpers import check_op, lib

DIM_CASES = [None, 0, 1, -1, (0, 2), (-1, -3), ()]
REDUCE = {
    "sum": lambda x, d, k: x.sum() if d is None else x.sum(d, keepdim=k),
    "mean": lambda x, d, k: x.mean() if d is None else x.mean(d, keepdim=k),
    "amax": lambda x, d, k: x.amax() if d is None else x.amax(d, keepdim=k),
    "amin": lambda x, d, k: x.amin() if d is None else x.amin(d, keepdim=k),
    "logsumexp": lambda x, d, k: x.logsumexp(tuple(range(x.dim())) if d is None else d, keepdim=k),
    "var": lambda x, d, k: x.var() if d is None else x.var(d, keepdim=k),
    "std": lambda x, d, k: x.std() if d is None else x.std(d, keepdim=k),
    "norm": lambda x, d, k: x.norm() if d is None else x.norm(dim=d, keepdim=k),
}


# dim=() means "all dims" only for sum/mean/amax/amin in torch
REDUCE_CASES = [(n, d) for n in sorted(REDUCE) for d in DIM_CASES
                if not (d == () and n in ("logsumexp", "norm", "var", "std"))]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name,dim", REDUCE_CASES, ids=[f"{n}-{d}" for n, d in REDUCE_CASES])
def test_reduce_dims(name, dim, keepdim, device):
    check_op(lambda x: REDUCE[name](x, dim, keepdim), (2, 3, 4), device=device)


@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduce_0d(name, device):
    if name in ("var", "std"):  # one element: n - 1 == 0 gives nan, tested below
        check_op(lambda x: lib(x).var(x, correction=0), (), device=device)
        return
    check_op(lambda x: REDUCE[name](x, None, False), (), device=device)
    if name not in ("logsumexp",):
        check_op(lambda x: REDUCE[name](x, 0, False), (), device=device)
        check_op(lambda x: REDUCE[name](x, -1, True), (), device=device)


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim(dim, keepdim, device):
    out = check_op(lambda x: x.max(dim, keepdim=keepdim), (3, 4), device=device)
    assert out.indices.dtype == gpunet.int64 and out.values is out[0]
    check_op(lambda x: x.min(dim, keepdim=keepdim), (3, 4), device=device)
    check_op(lambda x: lib(x).max(x, dim=dim, keepdim=keepdim)[0], (3, 4), device=device)


def test_max_min_named_tuple(device):
    x = gpunet.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 2.0]], device=device)
    values, indices = x.max(1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    r = x.min(dim=1)
    assert r.values.tolist() == [1.0, 2.0] and r.indices.tolist() == [0, 1]  # first of ties
    assert type(r).__name__ == "min"
    assert x.max().item() == 7.0 and x.min().item() == 1.0
    assert gpunet.max(x, gpunet.full_like(x, 4.0)).tolist() == [[4.0, 5.0, 4.0], [7.0, 4.0, 4.0]]


def test_max_all_ties_share_gradient(device):
    x = gpunet.tensor([1.0, 3.0, 3.0], requires_grad=True, device=device)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5]  # torch evenly distributes among ties for max()
    y = gpunet.tensor([1.0, 3.0, 3.0], requires_grad=True, device=device)
    y.max(0).values.backward()
    assert y.grad.tolist() == [0.0, 1.0, 0.0]  # max(dim) routes to the returned index


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(dim, keepdim, device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).normal(size=(3, 4))
    for name in ("argmax", "argmin"):
        mine = getattr(gpunet.tensor(a, device=device), name)(dim=dim, keepdim=keepdim)
        ref = getattr(torch.tensor(a), name)(dim=dim, keepdim=keepdim)
        assert mine.dtype == gpunet.int64
        assert tuple(mine.shape) == tuple(ref.shape) and mine.tolist() == ref.tolist(), (name, dim, keepdim)


def test_argmax_values_without_torch(device):
    x = gpunet.tensor([[1.0, 9.0, 3.0], [7.0, 2.0, 8.0]], device=device)
    assert x.argmax().item() == 1 and x.argmin().item() == 0
    assert x.argmax(1).tolist() == [1, 2] and x.argmin(0).tolist() == [0, 1, 0]
    assert x.argmax(1, keepdim=True).shape == (2, 1)


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod(dim, device):
    if dim is None:
        check_op(lambda x: x.prod(), (3, 4), low=0.5, high=1.5, device=device)
    else:
        check_op(lambda x: x.prod(dim), (3, 4), low=0.5, high=1.5, device=device)
        check_op(lambda x: x.prod(dim, keepdim=True), (3, 4), low=0.5, high=1.5, device=device)


def test_prod_with_zeros_gradient(device):
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    check_op(lambda x: x.prod(1), a, device=device)
    check_op(lambda x: x.prod(), np.array([2.0, 0.0, 3.0]), device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum(dim, device):
    check_op(lambda x: x.cumsum(dim), (3, 4), device=device)
    check_op(lambda x: lib(x).cumsum(x, dim=dim), (2, 3, 2), device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod(dim, device):
    check_op(lambda x: x.cumprod(dim), (3, 4), low=0.5, high=1.5, device=device)
    check_op(lambda x: lib(x).cumprod(x, dim=dim), (2, 3, 2), device=device)


def test_cumprod_gradient_with_zeros(device):
    """The backward divides by nothing: one zero, two zeros, a zero first and last along the dim."""
    a = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 4.0, 2.0], [1.5, 2.0, 3.0, 0.0]])
    check_op(lambda x: x.cumprod(1), a, device=device)
    check_op(lambda x: x.cumprod(0), a, device=device)


def test_cumprod_dtypes_and_shapes():
    assert gpunet.cumprod(gpunet.tensor([1, 2, 3], dtype=gpunet.int32), 0).dtype == gpunet.int64
    assert gpunet.cumprod(gpunet.tensor([True, True, False]), 0).tolist() == [1, 1, 0]
    assert gpunet.cumprod(gpunet.tensor([1, 2, 3]), 0, dtype=gpunet.float64).dtype == gpunet.float64
    assert gpunet.cumprod(gpunet.tensor(2.5), 0).shape == ()
    assert gpunet.cumprod(gpunet.ones(2, 0), 1).shape == (2, 0)


@pytest.mark.parametrize("unbiased", [True, False])
def test_var_std_correction(unbiased, device):
    check_op(lambda x: x.var(1, unbiased=unbiased), (3, 5), device=device)
    check_op(lambda x: x.std(0, unbiased=unbiased, keepdim=True), (3, 5), device=device)
    check_op(lambda x: lib(x).var(x, dim=1, correction=0), (3, 5), device=device)


@pytest.mark.parametrize("p", [1, 2, 3, float("inf"), "fro"])
def test_norm_orders(p, device):
    check_op(lambda x: x.norm(p=p), (3, 4), device=device)
    check_op(lambda x: x.norm(p=p, dim=1), (3, 4), device=device)


def test_mean_of_integer_tensor_raises(device):
    with pytest.raises(RuntimeError, match="mean.*Input dtype must be either a floating point"):
        gpunet.tensor([1, 2, 3], device=device).mean()


def test_integer_sum_and_prod(device):
    x = gpunet.tensor([[1, 2], [3, 4]], dtype=gpunet.int32, device=device)
    assert x.sum().dtype == gpunet.int64 and x.sum().item() == 10
    assert x.sum(0).tolist() == [4, 6]
    assert x.prod().item() == 24
    assert gpunet.tensor([True, True, False], device=device).sum().item() == 2
    assert x.sum(dtype=gpunet.float32).dtype == gpunet.float32


def test_all_any(device):
    x = gpunet.tensor([[True, False], [True, True]], device=device)
    assert x.all().item() is False and x.any().item() is True
    assert x.all(1).tolist() == [False, True] and x.any(0).tolist() == [True, True]
    assert x.all(dim=-1, keepdim=True).shape == (2, 1)
    assert x.all().dtype == gpunet.bool
    assert gpunet.tensor([1.0, 0.0], device=device).any().item() is True
    assert gpunet.tensor([], device=device).all().item() is True


def test_sum_over_zero_size_dim(device):
    torch = pytest.importorskip("torch")
    for shape, dim in [((0, 3), 0), ((2, 0), 1), ((2, 0), 0)]:
        mine = gpunet.zeros(shape, requires_grad=True, device=device)
        ref = torch.zeros(shape, requires_grad=True)
        s, rs = mine.sum(dim), ref.sum(dim)
        assert tuple(s.shape) == tuple(rs.shape) and s.tolist() == rs.tolist()
        s.sum().backward()
        assert mine.grad.shape == mine.shape


def test_reduce_dim_out_of_range(device):
    x = gpunet.ones(2, 3, device=device)
    with pytest.raises(IndexError,
                       match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.sum(2)
    with pytest.raises(IndexError):
        x.max(-3)


def test_logsumexp_stability(device):
    x = gpunet.tensor([[1e4, 1e4], [-1e4, 0.0], [float("-inf"), 0.0]], requires_grad=True, device=device)
    y = x.logsumexp(1)
    np.testing.assert_allclose(y.detach().cpu().numpy(), [1e4 + np.log(2), 0.0, 0.0], rtol=1e-6)
    y.sum().backward()
    # float32 rounding of 1e4 + log 2 costs ~1e-4 here, in torch too
    np.testing.assert_allclose(x.grad.cpu().numpy(), [[0.5, 0.5], [0.0, 1.0], [0.0, 1.0]], atol=2e-4)
    z = gpunet.full((3,), float("-inf"), device=device).logsumexp(0)
    assert z.item() == float("-inf")


def test_var_of_one_element_is_nan(device):
    with pytest.warns(Warning):  # torch warns about degrees of freedom; numpy about 0 / 0
        v = gpunet.tensor([3.0], device=device).var()
    assert np.isnan(v.item())


def test_0d_dim_reductions_keep_0d(device):
    x = gpunet.tensor(2.0, device=device)
    for out in (x.sum(0), x.mean(-1), x.amax(0), x.prod(0), x.cumsum(0), x.logsumexp(0), x.argmax(0),
                x.argmin(0, keepdim=True), x.max(0).values, x.max(0).indices, x.norm(dim=0)):
        assert out.shape == () and out.item() == (0 if out.dtype == gpunet.int64 else pytest.approx(2.0))
    assert not x.requires_grad_().max(0).indices.requires_grad
    assert x.max(0).indices.grad_fn is None


def test_count_nonzero_and_std_mean(device):
    x = gpunet.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]], device=device)
    assert gpunet.count_nonzero(x).item() == 4
    s, m = gpunet.std_mean(x, dim=1)
    np.testing.assert_allclose(m.cpu().numpy(), [1.0, 8 / 3], rtol=1e-6)
    np.testing.assert_allclose(s.cpu().numpy(), np.std(x.cpu().numpy(), axis=1, ddof=1), rtol=1e-6)


@pytest.mark.parametrize("p", [2, "fro", 3, 1.5])
def test_norm_gradient_at_zero_vector_is_zero(p, device):
    """norm(w - w0) at w = w0 (and zero rows with dim) has a zero gradient, as in PyTorch, not NaN."""
    a = gpunet.tensor([[0.0, 0.0], [3.0, 4.0]], device=device, requires_grad=True)
    (a - a.detach()).norm(p).backward()
    assert a.grad.cpu().numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    a.grad = None
    a.norm(p, dim=1).sum().backward()
    g = a.grad.cpu().numpy()
    assert g[0].tolist() == [0.0, 0.0] and np.isfinite(g).all() and (g[1] > 0).all()
    check_op(lambda x: x.norm(p, dim=1), (3, 4), device=device)


def test_norm_of_integer_tensor_errors(device):
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input"):
        gpunet.tensor([1, 2], device=device).norm()
