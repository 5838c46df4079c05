"""sort / argsort / topk: values, indices (stable tie order, NaN as largest), gradients, errors."""
import numpy as np
import pytest

import gpunet

from tests.helpers import check_op, lib

CASES = {
    "sort": lambda x: x.sort(dim=1),
    "sort_desc": lambda x: x.sort(0, True),
    "sort_fn": lambda x: lib(x).sort(x, descending=True),
    "topk": lambda x: x.topk(2),
    "topk_dim0_smallest": lambda x: lib(x).topk(x, 2, dim=0, largest=False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_indices_and_grad(name, device):
    check_op(CASES[name], (3, 5), device=device)


def test_argsort_matches_torch_with_ties_and_nan(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).integers(0, 3, (4, 9)).astype(np.float64)
    a[1, 3] = a[2, 0] = np.nan
    x, t = gpunet.tensor(a, device=device), torch.tensor(a)
    for kw in ({"dim": 1}, {"dim": 0, "descending": True}, {"dim": -1, "descending": True}):
        np.testing.assert_array_equal(gpunet.argsort(x, stable=True, **kw).cpu().numpy(),
                                      torch.argsort(t, stable=True, **kw).numpy())
        got, ref = x.sort(stable=True, **kw), t.sort(stable=True, **kw)
        np.testing.assert_array_equal(got.values.cpu().numpy(), ref.values.numpy())
        np.testing.assert_array_equal(got.indices.cpu().numpy(), ref.indices.numpy())
    k = x.topk(4, dim=1)
    assert k.indices.dtype == gpunet.int64 and tuple(k.values.shape) == (4, 4)
    np.testing.assert_array_equal(k.values.cpu().numpy(), torch.topk(t, 4, dim=1).values.numpy())


def test_integer_bool_and_scalar_inputs(device):
    assert gpunet.tensor([3, 1, 2], device=device).sort().values.tolist() == [1, 2, 3]
    assert gpunet.tensor([True, False, True], device=device).argsort(stable=True).tolist() == [1, 0, 2]
    v, i = gpunet.sort(gpunet.tensor(2.5, device=device))
    assert v.item() == 2.5 and i.item() == 0 and i.dtype == gpunet.int64


def test_topk_accuracy_pattern(device):
    logits = gpunet.tensor([[0.1, 0.5, 0.2, 0.9], [0.8, 0.1, 0.05, 0.3]], device=device)
    target = gpunet.tensor([1, 3], device=device)
    _, pred = logits.topk(2, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    assert correct[:1].sum().item() == 0 and correct[:2].sum().item() == 2


def test_errors(device):
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        gpunet.tensor([1.0, 2.0], device=device).topk(3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        gpunet.ones(2, 3, device=device).sort(dim=2)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_by_selection_is_the_sorts_first_k(dtype, largest, device):
    """Axes of 64 or more select (K.topk_indices): the same values and indices as the first k of the full
    stable sort (ties by index, NaN as the largest), along any dim, k from 1 to n - 1."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 20, (3, 70, 4)).astype(dtype)  # many ties
    if dtype != "int64":
        a[0, [3, 40, 41], 1] = np.nan
        a[2, :, 3] = np.nan  # a column of NaN only
    x = gpunet.tensor(a, device=device)
    for dim in (1, -2):
        full = x.sort(dim=dim, descending=largest, stable=True)
        for k in (1, 2, 7, 35, 69):
            got = x.topk(k, dim=dim, largest=largest)
            np.testing.assert_array_equal(got.indices.cpu().numpy(), full.indices[:, :k].cpu().numpy())
            np.testing.assert_array_equal(got.values.cpu().numpy(), full.values[:, :k].cpu().numpy())
    row = gpunet.tensor(a[0, :, 0], device=device, requires_grad=dtype != "int64")
    assert tuple(row.topk(5).values.shape) == (5,)
    if row.requires_grad:
        row.topk(5).values.sum().backward()
        assert row.grad.sum().item() == 5
