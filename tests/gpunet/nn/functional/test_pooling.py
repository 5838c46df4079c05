"""Pooling: max/avg/adaptive/lp pooling, 1-D and 2-D, vs torch, gradients, errors, simulated cuda."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from tests.helpers import compare, rand, simulated, to_np



def _distinct(*shape, seed=0):
    """Values with no ties, so max pooling's argmax (and its gradient) is unambiguous."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) / 7.0 - 3.0


MAXPOOL = [
    (2, {}), (3, {"stride": 2, "padding": 1}), ((2, 3), {"stride": (1, 2)}), (3, {"stride": 2,
                                                                                  "ceil_mode": True}),
    (2, {"stride": 1, "dilation": 2}), (3, {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}),
]


@pytest.mark.parametrize("k,kw", MAXPOOL)
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 5)])
def test_max_pool2d_matches_torch(k, kw, shape, device):
    x = _distinct(*shape)
    compare(lambda F, x: F.max_pool2d(x, k, **kw), x, device=device)
    compare(lambda F, x: F.max_pool2d(x, k, **kw), x, dtype="float32", device=device)
    compare(lambda F, x: F.max_pool2d(x, k, return_indices=True, **kw), x, device=device)


def test_max_pool2d_indices_are_flat_plane_positions(device):
    x = gpunet.tensor(_distinct(1, 1, 4, 4), device=device)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == gpunet.int64 and not idx.requires_grad
    flat = x.reshape(1, 1, -1)
    np.testing.assert_array_equal(to_np(flat.gather(2, idx.reshape(1, 1, -1)).reshape(1, 1, 2, 2)), to_np(y))


AVGPOOL = [
    (2, {}), (3, {"stride": 2, "padding": 1}), (3, {"stride": 2, "padding": 1, "count_include_pad": False}),
    ((2, 3), {"stride": (1, 2), "ceil_mode": True}), (3, {"stride": 2, "padding": 1, "divisor_override": 4}),
    (3, {"stride": 2, "ceil_mode": True, "count_include_pad": False}),
]


@pytest.mark.parametrize("k,kw", AVGPOOL)
def test_avg_pool2d_matches_torch(k, kw, device):
    x = rand(2, 3, 7, 6)
    compare(lambda F, x: F.avg_pool2d(x, k, **kw), x, device=device)
    compare(lambda F, x: F.avg_pool2d(x, k, **kw), x, dtype="float32", device=device)
    compare(lambda F, x: F.avg_pool2d(x, k, **kw), rand(3, 5, 5), device=device)  # unbatched


@pytest.mark.parametrize("size", [1, 3, (2, 4), (None, 2), (5, None), (7, 6)])
def test_adaptive_pools_match_torch(size, device):
    x = _distinct(2, 3, 7, 6)
    compare(lambda F, x: F.adaptive_avg_pool2d(x, size), x, device=device)
    compare(lambda F, x: F.adaptive_max_pool2d(x, size), x, device=device)
    compare(lambda F, x: F.adaptive_max_pool2d(x, size, return_indices=True), x, device=device)
    compare(lambda F, x: F.adaptive_avg_pool2d(x, size), x[0], dtype="float32", device=device)


def test_one_dim_pools_match_torch(device):
    x = _distinct(2, 3, 9)
    compare(lambda F, x: F.max_pool1d(x, 3, stride=2, padding=1), x, device=device)
    compare(lambda F, x: F.max_pool1d(x, 2, return_indices=True, ceil_mode=True), x, device=device)
    compare(lambda F, x: F.avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False), x, device=device)
    compare(lambda F, x: F.adaptive_avg_pool1d(x, 4), x, device=device)
    compare(lambda F, x: F.adaptive_max_pool1d(x, 4), x, device=device)
    compare(lambda F, x: F.max_pool1d(x, 2), x[0], device=device)  # unbatched (C, L)


def test_lp_pool_matches_torch(device):
    x = rand(2, 2, 6, 6, low=0.5, high=2.0)
    compare(lambda F, x: F.lp_pool2d(x, 2, 2), x, device=device)
    compare(lambda F, x: F.lp_pool2d(x, 3, (2, 3), stride=1), x, device=device)
    compare(lambda F, x: F.lp_pool1d(x[0], 2, 3), x, device=device)


@pytest.mark.parametrize("fn", [lambda F, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                                lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                                lambda F, x: F.adaptive_avg_pool2d(x, (2, 3)),
                                lambda F, x: F.adaptive_max_pool2d(x, 2),
                                lambda F, x: F.max_pool1d(x[0], 2, 1, dilation=2)])
def test_pool_finite_differences(fn, device):
    # a seeded vector-Jacobian product against central differences (the pool kernels are slow to call
    # many times, so this is cheaper than a full Jacobian gradcheck; in the simulator, ~25 ms a launch,
    # the input is smaller still)
    x = _distinct(1, 1, 4, 4) if simulated(device) else _distinct(1, 2, 4, 5)
    compare(fn, x, fd=True, check_torch=False, device=device)


def test_max_pool_overlapping_windows_accumulate_gradient(device):
    x = gpunet.tensor([[[[0.0, 1.0, 0.0], [0.0, 9.0, 0.0], [0.0, 1.0, 0.0]]]], requires_grad=True,
                      device=device)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    assert to_np(x.grad)[0, 0, 1, 1] == 4.0 and to_np(x.grad).sum() == 4.0


def test_pool_errors(device):
    x = gpunet.randn(1, 1, 4, 4, device=device)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(gpunet.randn(1, 1, 2, 2, device=device), 3)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D input"):
        F.avg_pool2d(gpunet.randn(4, 4, device=device), 2)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        F.max_pool2d(gpunet.ones(1, 1, 4, 4, dtype=gpunet.int64, device=device), 2)
    with pytest.raises(RuntimeError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(x, 0)
