"""Uniform: log_prob (-inf outside [low, high) without validation, ValueError with it), cdf, icdf, entropy
and moments against torch.distributions with every gradient, rsample's gradient, sample shapes and
statistics, errors."""
import math

import numpy as np
import pytest

import gpunet
from gpunet.distributions import Uniform

from tests.helpers import compare, gradcheck, lib, to_numpy


def _bounds(shape_low, shape_high, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, -1, size=shape_low), rng.uniform(1, 3, size=shape_high)


def _uniform(lo, hi, **kwargs):
    return lib(lo).distributions.Uniform(lo, hi, **kwargs)


@pytest.mark.parametrize("shapes", [((3,), (3,), (3,)), ((2, 1), (3,), (4, 2, 3)), ((), (), (5,))], ids=str)
def test_log_prob_cdf_icdf_entropy_match_torch(shapes, device):
    low, high = _bounds(*shapes[:2])
    value = np.random.default_rng(1).uniform(-0.9, 0.9, size=shapes[2])
    compare(lambda F, lo, hi, v: _uniform(lo, hi).log_prob(v), low, high, value, device=device)
    compare(lambda F, lo, hi, v: _uniform(lo, hi).cdf(v), low, high, value, device=device)
    compare(lambda F, lo, hi, v: _uniform(lo, hi).icdf(v), low, high, (value + 1) / 2, device=device)
    compare(lambda F, lo, hi: _uniform(lo, hi).entropy(), low, high, device=device)


def test_outside_support_without_validation_matches_torch(device):
    low, high = np.array([0.0, 0.0, 0.0, 0.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    value = np.array([2.0, -1.0, 0.5, 1.0, 0.0])  # high itself is outside [low, high): -inf, as PyTorch
    # fd=False: a difference quotient of -inf is nan, and cdf(high) sits on clamp's kink (torch's gradients
    # are compared where installed)
    out = compare(lambda F, lo, hi, v: _uniform(lo, hi, validate_args=False).log_prob(v), low, high, value,
                  fd=False, device=device)
    np.testing.assert_allclose(to_numpy(out), [-math.inf, -math.inf, 0.0, -math.inf, -math.log(3.0)])
    out = compare(lambda F, lo, hi, v: _uniform(lo, hi, validate_args=False).cdf(v), low, high, value,
                  fd=False, device=device)
    np.testing.assert_allclose(to_numpy(out), [1.0, 0.0, 0.5, 1.0, 1 / 3])


def test_moments_match_torch(device):
    low, high = _bounds((2, 3), (3,))
    for name in ("mean", "stddev", "variance"):
        compare(lambda F, lo, hi: getattr(_uniform(lo, hi), name), low, high, device=device)
    mode = compare(lambda F, lo, hi: _uniform(lo, hi).mode, low, high, needs=[False, False], device=device)
    assert np.isnan(to_numpy(mode)).all() and mode.shape == (2, 3)  # no mode, as PyTorch


def test_gradcheck_log_prob_entropy_and_rsample(device):
    low, high = _bounds((3,), (3,))

    def rsample(F, lo, hi):
        gpunet.manual_seed(0)
        return Uniform(lo, hi).rsample((2,))

    gradcheck(lambda F, lo, hi, v: Uniform(lo, hi).log_prob(v), low, high, np.zeros(3), device=device)
    gradcheck(lambda F, lo, hi: Uniform(lo, hi).entropy(), low, high, device=device)
    gradcheck(rsample, low, high, device=device)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("sample_shape", [(), (5,), (4, 1)])
def test_sample_shapes(batch, sample_shape, device):
    d = Uniform(gpunet.zeros(batch, device=device), gpunet.ones(batch, device=device))
    for draw in (d.sample, d.rsample):
        x = draw(sample_shape)
        assert x.shape == sample_shape + batch and x.dtype == gpunet.float32


def test_sampling_statistics(device):
    gpunet.manual_seed(0)
    d = Uniform(gpunet.tensor([0.0, -2.0], device=device), gpunet.tensor([1.0, 6.0], device=device))
    x = to_numpy(d.sample((20000,)))
    assert (x >= [0.0, -2.0]).all() and (x < [1.0, 6.0]).all()
    np.testing.assert_allclose(x.mean(0), [0.5, 2.0], atol=4 * 8 / math.sqrt(12 * 20000))
    np.testing.assert_allclose(x.var(0), [1 / 12, 64 / 12], rtol=0.05)


def test_expand_and_support(device):
    d = Uniform(0.0, gpunet.tensor([1.0, 2.0], device=device)).expand((3, 2))
    assert d.batch_shape == (3, 2) and d.rsample((4,)).shape == (4, 3, 2)
    assert repr(Uniform(0.0, 1.0).support) == "Interval(lower_bound=0.0, upper_bound=1.0)"


def test_errors_name_distribution_argument_and_expectation(device):
    with pytest.raises(ValueError, match=r"parameter low \(Tensor of shape \(\)\) of distribution "
                                         r"Uniform\(low: 1.0, high: 0.0\) to satisfy the constraint "
                                         r"LessThan\(upper_bound=0.0\)"):
        Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match=r"parameter low .*LessThan"):
        Uniform(gpunet.ones(2, device=device), gpunet.ones(2, device=device))
    d = Uniform(gpunet.tensor(0.0, device=device), gpunet.tensor(1.0, device=device))
    with pytest.raises(ValueError, match=r"value argument \(Tensor of shape \(\)\) to be within the support "
                                         r"\(Interval\(lower_bound=0.0, upper_bound=1.0\)\) of the "
                                         r"distribution Uniform"):
        d.log_prob(gpunet.tensor(2.0, device=device))
    with pytest.raises(ValueError, match="within the support"):
        d.cdf(gpunet.tensor(-1.0, device=device))
