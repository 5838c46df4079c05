"""Bernoulli: probs <-> logits, log_prob (stable for large logits), entropy and moments against
torch.distributions with every gradient, sample shapes and frequencies, enumerate_support, errors."""
import numpy as np
import pytest

import gpunet
from gpunet.distributions import Bernoulli

from tests.helpers import compare, gradcheck, lib, to_numpy


def _dist(t, use_probs):
    D = lib(t).distributions
    return D.Bernoulli(probs=t) if use_probs else D.Bernoulli(logits=t)


def _param(shape, use_probs, seed=0):
    rng = np.random.default_rng(seed)
    # an ndarray even for shape (): the finite differences perturb it in place
    return np.asarray(rng.uniform(0.05, 0.95, size=shape) if use_probs else rng.normal(size=shape) * 3)


@pytest.mark.parametrize("param,value", [((3,), (3,)), ((2, 3), (4, 1, 3)), ((), (5,))], ids=str)
@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_log_prob_matches_torch(param, value, use_probs, device):
    v = np.random.default_rng(2).integers(0, 2, size=value).astype(np.float64)
    compare(lambda F, t, x: _dist(t, use_probs).log_prob(x), _param(param, use_probs), v,
            needs=[True, False], device=device)


@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_parameters_entropy_and_moments_match_torch(use_probs, device):
    p = _param((2, 3), use_probs)
    for attr in ("probs", "logits", "mean", "variance"):
        compare(lambda F, t: getattr(_dist(t, use_probs), attr), p, device=device)
    compare(lambda F, t: _dist(t, use_probs).entropy(), p, device=device)


def test_mode_and_large_logits_match_torch(device):
    compare(lambda F, t: lib(t).distributions.Bernoulli(probs=t).mode, np.array([0.2, 0.5, 0.9]),
            needs=[False], device=device)
    logits, value = np.array([-80.0, 0.0, 80.0]), np.array([1.0, 0.0, 0.0])  # finite: no log(sigmoid(x))
    compare(lambda F, t, x: lib(t).distributions.Bernoulli(logits=t).log_prob(x), logits, value,
            needs=[True, False], device=device)


def test_gradcheck_log_prob_and_entropy(device):
    value = gpunet.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=gpunet.float64, device=device)
    gradcheck(lambda F, t: Bernoulli(logits=t).log_prob(value), _param((3,), False), device=device)
    gradcheck(lambda F, t: Bernoulli(probs=t).log_prob(value), _param((3,), True), device=device)
    gradcheck(lambda F, t: Bernoulli(logits=t).entropy(), _param((3,), False), device=device)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("sample_shape", [(), (5,), (4, 2)])
def test_sample_shapes(batch, sample_shape, device):
    d = Bernoulli(gpunet.full(batch, 0.3, device=device))
    x = d.sample(sample_shape)
    assert d.batch_shape == batch and x.shape == sample_shape + batch and x.dtype == gpunet.float32
    assert Bernoulli(0.3).batch_shape == () and Bernoulli(0.3).sample((2,)).shape == (2,)


def test_sample_frequencies_and_reproducibility(device):
    gpunet.manual_seed(0)
    d = Bernoulli(gpunet.tensor([0.0, 0.2, 0.7, 1.0], device=device))
    x = to_numpy(d.sample((20000,)))
    np.testing.assert_allclose(x.mean(0), [0.0, 0.2, 0.7, 1.0], atol=4 * np.sqrt(0.25 / 20000))
    gpunet.manual_seed(5)
    a = to_numpy(d.sample((3,)))
    gpunet.manual_seed(5)
    assert (to_numpy(d.sample((3,))) == a).all()


def test_enumerate_support_and_expand(device):
    d = Bernoulli(logits=gpunet.zeros(2, device=device))
    assert to_numpy(d.enumerate_support()).tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert d.enumerate_support(expand=False).shape == (2, 1)
    e = d.expand((3, 2))
    assert e.batch_shape == (3, 2) and e.sample().shape == (3, 2) and e.log_prob(e.sample()).shape == (3, 2)


def test_errors_name_distribution_argument_and_expectation(device):
    with pytest.raises(ValueError, match=r"not both \(Bernoulli got neither\)"):
        Bernoulli()
    with pytest.raises(ValueError, match=r"not both \(Bernoulli got both\)"):
        Bernoulli(0.5, 0.0)
    with pytest.raises(ValueError, match=r"parameter probs \(Tensor of shape \(\)\) of distribution "
                                         r"Bernoulli\(probs: 1.5\) to satisfy the constraint "
                                         r"Interval\(lower_bound=0.0, upper_bound=1.0\)"):
        Bernoulli(1.5)
    with pytest.raises(ValueError, match=r"within the support \(Boolean\(\)\) of the distribution Bernoulli"):
        Bernoulli(gpunet.tensor(0.3, device=device)).log_prob(gpunet.tensor(0.5, device=device))
