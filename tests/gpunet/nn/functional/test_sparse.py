"""embedding and one_hot: vs torch, padding_idx gets no gradient, max_norm, scale_grad_by_freq, errors."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import compare, rand, to_np

IDX = np.array([[0, 2, 4, 2], [1, 0, 0, 3]])


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 0}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                                {"padding_idx": 2, "scale_grad_by_freq": True}])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_matches_torch(kw, dtype, device):
    # padding_idx and scale_grad_by_freq change the gradient on purpose: finite differences only without them
    compare(lambda F, i, w: F.embedding(i, w, **kw), IDX, rand(5, 3, seed=1), dtype=dtype,
            fd=dtype == "float64" and not kw, device=device)


def test_embedding_index_shapes(device):
    for idx in (np.array(3), np.array([4, 4, 1]), np.arange(24).reshape(2, 3, 4) % 5):
        compare(lambda F, i, w: F.embedding(i, w), idx, rand(5, 2, seed=1), device=device)


def test_embedding_padding_row_gets_no_gradient(device):
    w = gpunet.tensor(rand(5, 3), device=device, requires_grad=True)
    F.embedding(gpunet.tensor(IDX, device=device), w, padding_idx=0).sum().backward()
    g = to_np(w.grad)
    assert (g[0] == 0).all() and (g[2] == 2).all() and (g[1] == 1).all()


def test_embedding_max_norm_renormalises_rows_like_torch(device):
    from tests.helpers import torch
    if torch is None:
        pytest.skip("torch is not installed")
    w0 = rand(5, 3, seed=2, low=-3, high=3)
    mine = gpunet.tensor(w0.copy(), requires_grad=True, device=device)
    ref = torch.tensor(w0.copy(), requires_grad=True)
    y = F.embedding(gpunet.tensor(IDX, device=device), mine, max_norm=1.5)
    ty = torch.nn.functional.embedding(torch.tensor(IDX), ref, max_norm=1.5)
    np.testing.assert_allclose(to_np(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_np(mine), ref.detach().numpy(), rtol=1e-12)  # renormalised in place
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_np(mine.grad), ref.grad.numpy())


def test_embedding_errors(device):
    w = gpunet.randn(5, 3, device=device)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(gpunet.tensor([0, 5], device=device), w)
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(gpunet.tensor([-1], device=device), w)
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        F.embedding(gpunet.tensor([0.0, 1.0], device=device), w)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        F.embedding(gpunet.tensor([0], device=device), w, padding_idx=5)


def test_one_hot_matches_torch(device):
    compare(lambda F, t: F.one_hot(t), np.array([0, 3, 1]), device=device)
    compare(lambda F, t: F.one_hot(t, 5), np.array([[0, 3], [1, 4]]), device=device)
    compare(lambda F, t: F.one_hot(t, 4), np.array(2), device=device)
    assert F.one_hot(gpunet.tensor([1, 2], device=device)).dtype == gpunet.int64


def test_one_hot_errors(device):
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(gpunet.tensor([0, 3], device=device), 3)
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        F.one_hot(gpunet.tensor([-1, 0], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor"):
        F.one_hot(gpunet.tensor([1.0], device=device))


def test_embedding_on_device(device):
    w = gpunet.tensor(rand(5, 3), device=device, requires_grad=True)
    i = gpunet.tensor(IDX, device=device)
    y = F.embedding(i, w, padding_idx=2)
    assert y.device.type == device
    y.sum().backward()
    ref = gpunet.tensor(rand(5, 3), requires_grad=True)
    F.embedding(gpunet.tensor(IDX), ref, padding_idx=2).sum().backward()
    np.testing.assert_allclose(to_np(w.grad), to_np(ref.grad))
    np.testing.assert_array_equal(to_np(F.one_hot(i, 5)), to_np(F.one_hot(gpunet.tensor(IDX), 5)))
