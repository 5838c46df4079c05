"""Dropout: inverted scaling, mask reuse in backward, channel structure, statistics, validation, devices."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import to_np


def test_dropout_scales_kept_and_zeroes_dropped(device):
    gpunet.manual_seed(0)
    x = gpunet.ones(200, 50, device=device, requires_grad=True)
    y = F.dropout(x, 0.3)
    v = to_np(y)
    assert (np.isclose(v, 0) | np.isclose(v, 1 / 0.7)).all()
    assert abs((v == 0).mean() - 0.3) < 0.02  # 10,000 draws: 4 sigma is ~0.018
    g = gpunet.randn(200, 50, device=device)
    y.backward(g)
    np.testing.assert_allclose(to_np(x.grad), to_np(g) * (v != 0) / 0.7, rtol=1e-6)  # the same mask


def test_dropout_eval_and_zero_p_return_input(device):
    x = gpunet.randn(4, 5, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x.reshape(1, 4, 5, 1), 0.5, training=False).shape == (1, 4, 5, 1)


def test_dropout_p_one_gives_zeros_and_zero_grad(device):
    x = gpunet.randn(3, 4, requires_grad=True, device=device)
    y = F.dropout(x, 1.0)
    assert (to_np(y) == 0).all()
    y.sum().backward()
    assert (to_np(x.grad) == 0).all()


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p, device):
    with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
        F.dropout(gpunet.randn(2, device=device), p)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout2d(gpunet.randn(1, 2, 3, 3, device=device), p)


def test_dropout_is_reproducible_with_manual_seed(device):
    gpunet.manual_seed(7)
    a = to_np(F.dropout(gpunet.ones(100, device=device), 0.5))
    gpunet.manual_seed(7)
    b = to_np(F.dropout(gpunet.ones(100, device=device), 0.5))
    np.testing.assert_array_equal(a, b)


def test_dropout2d_drops_whole_channels(device):
    gpunet.manual_seed(1)
    x = gpunet.ones(8, 16, 3, 3, device=device, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    v = to_np(y).reshape(8, 16, 9)
    assert ((v == 0).all(axis=2) | (np.abs(v - 2.0) < 1e-6).all(axis=2)).all()
    assert 0.3 < (v[:, :, 0] == 0).mean() < 0.7
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), to_np(y))
    gpunet.manual_seed(1)
    z = to_np(F.dropout1d(gpunet.ones(8, 16, 5, device=device), 0.5))
    assert ((z == 0).all(axis=2) | (z == 2).all(axis=2)).all()
    z3 = to_np(F.dropout3d(gpunet.ones(2, 8, 2, 2, 2, device=device), 0.5)).reshape(2, 8, 8)
    assert ((z3 == 0).all(axis=2) | (z3 == 2).all(axis=2)).all()


def test_dropout2d_three_d_input_warns_like_torch(device):
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(gpunet.randn(2, 3, 4, device=device), 0.5)


def test_dropout_inplace_writes_input(device):
    gpunet.manual_seed(2)
    leaf = gpunet.ones(50, requires_grad=True, device=device)
    h = leaf * 1.0
    out = F.dropout(h, 0.5, inplace=True)
    assert out is h
    assert set(np.unique(to_np(h))) <= {0.0, 2.0}
    h.sum().backward()
    np.testing.assert_allclose(to_np(leaf.grad), to_np(h))


def test_alpha_dropout_keeps_mean_and_variance(device):
    gpunet.manual_seed(3)
    x = gpunet.randn(200000, dtype=gpunet.float64, device=device)
    y = to_np(F.alpha_dropout(x, 0.2, training=True))
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert F.alpha_dropout(x, 0.2) is x  # training defaults to False
    f = to_np(F.feature_alpha_dropout(gpunet.randn(4, 6, 3, 3, device=device), 0.5, training=True))
    f = f.reshape(4, 6, 9)
    dropped = np.isclose(f, f[:, :, :1]).all(axis=2)  # a dropped channel is one constant value
    assert dropped.any()


def test_dropout_float32_mask_keeps_dtype(device):
    x = gpunet.randn(10, device=device)
    assert F.dropout(x, 0.4).dtype == gpunet.float32
    assert F.dropout(x.double(), 0.4).dtype == gpunet.float64
