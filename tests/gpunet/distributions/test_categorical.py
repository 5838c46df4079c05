"""Categorical: normalisation of probs and logits, log_prob (with value broadcasting), entropy and moments
against torch.distributions with every gradient, sample shapes and frequencies, enumerate_support, errors."""
import numpy as np
import pytest

import gpunet
from gpunet.distributions import Categorical

from tests.helpers import compare, gradcheck, lib, to_numpy

# (parameter shape, value shape): the value broadcasts against batch_shape as in PyTorch
LOG_PROB_SHAPES = [((4,), ()), ((4,), (5,)), ((2, 4), (2,)), ((2, 4), (3, 1)), ((3, 2, 4), (2,))]


def _logits(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _values(shape, k, seed=1):
    return np.random.default_rng(seed).integers(0, k, size=shape)


def _dist(t, use_probs):
    D = lib(t).distributions
    return D.Categorical(probs=t) if use_probs else D.Categorical(logits=t)


@pytest.mark.parametrize("param,value", LOG_PROB_SHAPES, ids=str)
@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_log_prob_matches_torch(param, value, use_probs, device):
    p = np.exp(_logits(param)) if use_probs else _logits(param)
    compare(lambda F, t, v: _dist(t, use_probs).log_prob(v), p, _values(value, param[-1]), device=device)


@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_normalised_parameters_entropy_and_moments_match_torch(use_probs, device):
    p = np.exp(_logits((2, 3, 4))) if use_probs else _logits((2, 3, 4)) * 3
    for attr in ("probs", "logits"):
        compare(lambda F, t: getattr(_dist(t, use_probs), attr), p, device=device)
    compare(lambda F, t: _dist(t, use_probs).entropy(), p, device=device)
    for attr in ("mean", "variance", "mode"):
        compare(lambda F, t: getattr(_dist(t, use_probs), attr), p, needs=[False], device=device)


def test_zero_probabilities_match_torch(device):
    probs = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    compare(lambda F, t: lib(t).distributions.Categorical(probs=t).entropy(), probs, needs=[False],
            device=device)
    compare(lambda F, t: lib(t).distributions.Categorical(probs=t).logits, probs, needs=[False],
            device=device)


def test_gradcheck_log_prob_and_entropy(device):
    logits, values = _logits((2, 4)), _values((3, 2), 4)
    gradcheck(lambda F, t, v: Categorical(logits=t).log_prob(v), logits, values, device=device)
    gradcheck(lambda F, t: Categorical(logits=t).entropy(), logits, device=device)
    gradcheck(lambda F, t: Categorical(probs=t).entropy(), np.exp(logits), device=device)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("sample_shape", [(), (5,), (4, 2)])
def test_sample_shapes(batch, sample_shape, device):
    d = Categorical(logits=gpunet.zeros(batch + (4,), device=device))
    assert d.batch_shape == batch and d.event_shape == () and d.param_shape == batch + (4,)
    x = d.sample(sample_shape)
    assert x.shape == sample_shape + batch and x.dtype == gpunet.int64 and x.device == d.logits.device


def test_sample_frequencies(device):
    gpunet.manual_seed(0)
    probs = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]])
    n = 20000
    x = to_numpy(Categorical(probs=gpunet.tensor(probs, device=device)).sample((n,)))
    for row in range(2):
        freq = np.bincount(x[:, row], minlength=4) / n
        np.testing.assert_allclose(freq, probs[row], atol=4 * np.sqrt(0.25 / n))
    assert (x[:, 0] != 1).all()  # a category of probability zero is never drawn


def test_samples_reproducible_under_manual_seed(device):
    d = Categorical(logits=gpunet.zeros(3, 5, device=device))
    gpunet.manual_seed(11)
    a = to_numpy(d.sample((4,)))
    gpunet.manual_seed(11)
    assert (to_numpy(d.sample((4,))) == a).all()


def test_enumerate_support_and_expand(device):
    d = Categorical(logits=gpunet.zeros(2, 3, device=device))
    assert d.enumerate_support().shape == (3, 2) and d.enumerate_support(expand=False).shape == (3, 1)
    assert to_numpy(d.enumerate_support())[:, 0].tolist() == [0, 1, 2]
    assert d.log_prob(d.enumerate_support()).shape == (3, 2)
    e = Categorical(probs=gpunet.ones(3, device=device)).expand((5, 2))
    assert e.batch_shape == (5, 2) and e.sample((4,)).shape == (4, 5, 2)
    np.testing.assert_allclose(to_numpy(e.log_prob(gpunet.tensor(1, device=device))), np.log(1 / 3) *
                               np.ones((5, 2)), rtol=1e-6)


def test_support_and_repr():
    d = Categorical(probs=gpunet.ones(4))
    assert repr(d.support) == "IntegerInterval(lower_bound=0, upper_bound=3)"
    assert repr(d) == "Categorical(probs: gpunet.Size([4]))"


def test_errors_name_distribution_argument_and_expectation(device):
    with pytest.raises(ValueError, match=r"Either `probs` or `logits` must be specified, but not both "
                                         r"\(Categorical got neither\)"):
        Categorical()
    with pytest.raises(ValueError, match=r"\(Categorical got both\)"):
        Categorical(probs=gpunet.ones(2, device=device), logits=gpunet.ones(2, device=device))
    with pytest.raises(ValueError, match=r"`probs` parameter must be at least one-dimensional \(Categorical"):
        Categorical(probs=gpunet.tensor(1.0, device=device))
    with pytest.raises(TypeError, match=r"Categorical: `logits` must be a Tensor, got list"):
        Categorical(logits=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"parameter probs .* of distribution Categorical\(probs: "
                                         r"gpunet.Size\(\[2\]\)\) to satisfy the constraint Simplex\(\)"):
        Categorical(probs=gpunet.tensor([-1.0, 2.0], device=device))
    d = Categorical(logits=gpunet.zeros(3, device=device))
    with pytest.raises(ValueError, match=r"within the support \(IntegerInterval\(lower_bound=0, "
                                         r"upper_bound=2\)\) of the distribution Categorical"):
        d.log_prob(gpunet.tensor(3, device=device))
    with pytest.raises(ValueError, match="within the support"):
        d.log_prob(gpunet.tensor(1.5, device=device))
    with pytest.raises(ValueError, match=r"not broadcastable .*gpunet.Size\(\[4\]\) vs gpunet.Size\(\[2\]\)"):
        Categorical(logits=gpunet.zeros(2, 3, device=device)).log_prob(gpunet.zeros(4, dtype=gpunet.int64,
                                                                                    device=device))
