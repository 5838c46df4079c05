"""kl_divergence: every registered pair against torch.distributions.kl_divergence (values, the infinite cases,
every gradient), gradchecks by finite differences, register_kl and its lookup, unregistered pairs."""
import math

import numpy as np
import pytest

import gpunet
from gpunet.distributions import (Bernoulli, Categorical, Distribution, MultivariateNormal, Normal, Uniform,
                                  kl_divergence, register_kl)

from tests.helpers import compare, gradcheck, lib, to_numpy


def _D(t):
    return lib(t).distributions


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_normal_normal(device):
    r = _rng()
    args = r.normal(size=(2, 3)), r.uniform(0.5, 2, size=3), r.normal(size=3), r.uniform(0.5, 2, size=(2, 1))
    compare(lambda F, m1, s1, m2, s2: _D(m1).kl_divergence(_D(m1).Normal(m1, s1), _D(m1).Normal(m2, s2)),
            *args, device=device)


@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_categorical_categorical(use_probs, device):
    r = _rng()
    p, q = r.normal(size=(2, 4)), r.normal(size=(4,))
    if use_probs:
        p, q = np.exp(p), np.exp(q)
    key = "probs" if use_probs else "logits"
    compare(lambda F, a, b: _D(a).kl_divergence(_D(a).Categorical(**{key: a}), _D(a).Categorical(**{key: b})),
            p, q, device=device)


def test_categorical_zero_probabilities_give_zero_or_inf_as_torch(device):
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    q = np.array([[0.5, 0.25, 0.25], [0.0, 0.5, 0.5]])
    out = compare(lambda F, a, b: _D(a).kl_divergence(_D(a).Categorical(probs=a), _D(a).Categorical(probs=b)),
                  p, q, needs=[False, False], device=device)
    assert np.isfinite(to_numpy(out)[0]) and to_numpy(out)[1] == math.inf


@pytest.mark.parametrize("use_probs", [False, True], ids=["logits", "probs"])
def test_bernoulli_bernoulli(use_probs, device):
    r = _rng()
    # equal batch shapes: torch's Bernoulli KL does not broadcast them (gpunet's does)
    p, q = (r.uniform(0.1, 0.9, size=(2, 3)), r.uniform(0.1, 0.9, size=(2, 3))) if use_probs else \
        (r.normal(size=(2, 3)), r.normal(size=(2, 3)))
    key = "probs" if use_probs else "logits"
    compare(lambda F, a, b: _D(a).kl_divergence(_D(a).Bernoulli(**{key: a}), _D(a).Bernoulli(**{key: b})),
            p, q, device=device)


def test_bernoulli_edge_probabilities_match_torch(device):
    p, q = np.array([0.0, 1.0, 0.5, 0.0, 0.3]), np.array([1.0, 0.0, 0.0, 0.0, 0.3])
    compare(lambda F, a, b: _D(a).kl_divergence(_D(a).Bernoulli(probs=a), _D(a).Bernoulli(probs=b)),
            p, q, needs=[False, False], device=device)


def test_uniform_uniform(device):
    lo_p, hi_p = np.array([0.0, 0.0, -1.0]), np.array([1.0, 2.0, 1.0])
    lo_q, hi_q = np.array([-1.0, 0.5, -1.0]), np.array([2.0, 3.0, 0.5])  # the last two: inf
    out = compare(lambda F, a, b, c, d: _D(a).kl_divergence(_D(a).Uniform(a, b), _D(a).Uniform(c, d)),
                  lo_p, hi_p, lo_q, hi_q, fd=False, device=device)  # fd: a difference quotient of inf is nan
    np.testing.assert_allclose(to_numpy(out), [math.log(3.0), math.inf, math.inf])


def test_uniform_normal_and_normal_uniform(device):
    r = _rng()
    lo, hi, loc, scale = r.uniform(-2, -1, 3), r.uniform(0, 1, 3), r.normal(size=3), r.uniform(0.5, 2, 3)
    compare(lambda F, a, b, m, s: _D(a).kl_divergence(_D(a).Uniform(a, b), _D(a).Normal(m, s)),
            lo, hi, loc, scale, device=device)
    compare(lambda F, m, s, a, b: _D(a).kl_divergence(_D(a).Normal(m, s), _D(a).Uniform(a, b)),
            loc, scale, lo, hi, needs=[False] * 4, device=device)


@pytest.mark.parametrize("kind", ["covariance_matrix", "scale_tril"])
def test_mvn_mvn(kind, device):
    r = _rng()
    args = r.normal(size=(2, 3)), r.uniform(-1, 1, (3, 3)), r.normal(size=3), r.uniform(-1, 1, (4, 1, 3, 3))

    def mvn(loc, a):
        eye = lib(a).eye(3, dtype=a.dtype, device=a.device)
        matrix = a.tril() + 3 * eye if kind == "scale_tril" else a @ a.mT + eye
        return _D(a).MultivariateNormal(loc, **{kind: matrix})

    out = compare(lambda F, m1, a1, m2, a2: _D(m1).kl_divergence(mvn(m1, a1), mvn(m2, a2)), *args,
                  device=device, atol=1e-9)
    assert out.shape == (4, 2)


def test_gradchecks(device):
    r = _rng()
    lp, lq = r.normal(size=4), r.normal(size=4)
    gradcheck(lambda F, a, b: kl_divergence(Normal(a, b.exp()), Normal(b, a.exp())), lp, lq, device=device)
    gradcheck(lambda F, a, b: kl_divergence(Categorical(logits=a), Categorical(logits=b)), lp, lq,
              device=device)
    gradcheck(lambda F, a, b: kl_divergence(Bernoulli(logits=a), Bernoulli(logits=b)), lp, lq, device=device)
    gradcheck(lambda F, a, b: kl_divergence(Uniform(a - 3, b + 3), Normal(a, b.exp())), lp, lq, device=device)
    a, b = r.uniform(-1, 1, (3, 3)), r.uniform(-1, 1, (3, 3))
    eye = gpunet.eye(3, dtype=gpunet.float64, device=device)
    gradcheck(lambda F, x, y: kl_divergence(MultivariateNormal(x[0], scale_tril=x.tril() + 3 * eye),
                                            MultivariateNormal(y[1], y @ y.mT + eye)), a, b, device=device)


def test_unregistered_pair_names_both_types():
    with pytest.raises(NotImplementedError, match=r"No KL\(p \|\| q\) is implemented for p type Normal "
                                                  r"and q type Categorical"):
        kl_divergence(Normal(0.0, 1.0), Categorical(logits=gpunet.zeros(2)))
    with pytest.raises(ValueError, match="different event shapes"):
        kl_divergence(MultivariateNormal(gpunet.zeros(2), gpunet.eye(2)),
                      MultivariateNormal(gpunet.zeros(3), gpunet.eye(3)))


def test_register_kl_most_specific_pair_wins():
    class MyNormal(Normal):
        pass

    assert float(kl_divergence(MyNormal(0.0, 1.0), Normal(1.0, 1.0))) == pytest.approx(0.5)  # via the base

    @register_kl(MyNormal, Normal)
    def _kl_mine(p, q):
        return gpunet.tensor(42.0)

    try:
        assert float(kl_divergence(MyNormal(0.0, 1.0), Normal(1.0, 1.0))) == 42.0
        assert float(kl_divergence(Normal(0.0, 1.0), Normal(1.0, 1.0))) == pytest.approx(0.5)
    finally:
        from gpunet.distributions import kl
        del kl._REGISTRY[MyNormal, Normal]
        kl._CACHE.clear()
    with pytest.raises(TypeError, match="Expected type_q to be a Distribution subclass"):
        register_kl(Normal, int)
    assert issubclass(MyNormal, Distribution)
