"""Normal: log_prob, cdf, entropy and moments against torch.distributions (values and every gradient; by
finite differences without torch), rsample's gradient with a fixed seed, sample shapes and statistics."""
import math

import numpy as np
import pytest

import gpunet
from gpunet.distributions import Normal

from tests.helpers import compare, gradcheck, lib, to_numpy

SHAPES = [((3,), (3,), (3,)), ((2, 1), (3,), (4, 2, 3)), ((), (), (5,))]


def _params(loc_shape, scale_shape, value_shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=loc_shape), rng.uniform(0.5, 2.0, size=scale_shape),
            rng.normal(size=value_shape) * 2)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_log_prob_cdf_entropy_match_torch(shapes, device):
    loc, scale, value = _params(*shapes)
    needs = [True, True, True]
    compare(lambda F, m, s, v: lib(m).distributions.Normal(m, s).log_prob(v), loc, scale, value,
            needs=needs, device=device)
    compare(lambda F, m, s, v: lib(m).distributions.Normal(m, s).cdf(v), loc, scale, value, needs=needs,
            device=device)
    compare(lambda F, m, s: lib(m).distributions.Normal(m, s).entropy(), loc, scale, device=device)


def test_moments_match_torch(device):
    loc, scale, _ = _params((2, 3), (3,), ())
    for name in ("mean", "mode", "stddev", "variance"):
        compare(lambda F, m, s: getattr(lib(m).distributions.Normal(m, s), name), loc, scale, device=device)


def test_gradcheck_log_prob_entropy_and_rsample(device):
    loc, scale, value = _params((3,), (3,), (2, 3))

    def rsample(F, m, s):
        gpunet.manual_seed(0)  # the same eps at every evaluation
        return Normal(m, s).rsample((2,))

    gradcheck(lambda F, m, s, v: Normal(m, s).log_prob(v), loc, scale, value, device=device)
    gradcheck(lambda F, s: Normal(0.0, s).entropy(), scale, device=device)
    gradcheck(rsample, loc, scale, device=device)


def test_rsample_is_loc_plus_eps_times_scale(device):
    loc = gpunet.tensor([1.0, -2.0], device=device, requires_grad=True)
    scale = gpunet.tensor([0.5, 3.0], device=device, requires_grad=True)
    gpunet.manual_seed(3)
    x = Normal(loc, scale).rsample((4,))
    gpunet.manual_seed(3)
    eps = gpunet.randn(4, 2, device=device)
    np.testing.assert_allclose(to_numpy(x), to_numpy(loc + eps * scale), rtol=1e-6)
    x.sum().backward()
    np.testing.assert_allclose(to_numpy(scale.grad), to_numpy(eps.sum(0)), rtol=1e-5)
    assert to_numpy(loc.grad).tolist() == [4.0, 4.0]


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("sample_shape", [(), (5,), (4, 1)])
def test_sample_shapes(batch, sample_shape, device):
    d = Normal(gpunet.zeros(batch, device=device), gpunet.ones(batch, device=device))
    assert d.batch_shape == batch and d.event_shape == ()
    for draw in (d.sample, d.rsample):
        x = draw(sample_shape)
        assert x.shape == sample_shape + batch and x.dtype == gpunet.float32 and x.device == d.loc.device
    assert d.sample(gpunet.Size(sample_shape)).shape == sample_shape + batch
    assert not d.sample().requires_grad


def test_scalar_parameters_and_dtypes():
    d = Normal(0, 1)  # ints become tensors of the default dtype, batch_shape ()
    assert d.batch_shape == () and d.loc.dtype == gpunet.float32 and d.sample((2,)).shape == (2,)
    d = Normal(gpunet.zeros(2, dtype=gpunet.float64), 1.0)
    assert d.scale.dtype == gpunet.float64 and d.scale.shape == (2,) and d.sample().dtype == gpunet.float64
    assert repr(Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(Normal(gpunet.zeros(2), 1.0)) == "Normal(loc: gpunet.Size([2]), scale: gpunet.Size([2]))"


def test_sampling_statistics(device):
    gpunet.manual_seed(0)
    loc, scale = gpunet.tensor([1.0, -3.0], device=device), gpunet.tensor([0.5, 2.0], device=device)
    x = to_numpy(Normal(loc, scale).sample((20000,)))
    n = x.shape[0]
    np.testing.assert_allclose(x.mean(0), [1.0, -3.0], atol=4 * 2.0 / math.sqrt(n))
    np.testing.assert_allclose(x.std(0), [0.5, 2.0], rtol=0.03)


def test_samples_reproducible_under_manual_seed(device):
    d = Normal(gpunet.zeros(3, device=device), 1.0)
    gpunet.manual_seed(7)
    a = to_numpy(d.sample((2,)))
    gpunet.manual_seed(7)
    assert (to_numpy(d.sample((2,))) == a).all()


def test_expand(device):
    d = Normal(gpunet.tensor([0.0, 1.0], device=device), 2.0).expand((3, 2))
    assert d.batch_shape == (3, 2) and d.sample((4,)).shape == (4, 3, 2)
    assert to_numpy(d.log_prob(gpunet.zeros(3, 2, device=device))).shape == (3, 2)


def test_errors_name_distribution_argument_and_expectation(device):
    with pytest.raises(ValueError, match=r"parameter scale \(Tensor of shape \(\)\) of distribution "
                                         r"Normal\(loc: 0.0, scale: -1.0\) to satisfy the constraint "
                                         r"GreaterThan\(lower_bound=0.0\)"):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError, match=r"parameter loc .*Real\(\)"):
        Normal(gpunet.tensor([0.0, math.nan], device=device), 1.0)
    d = Normal(gpunet.zeros(3, device=device), 1.0)
    with pytest.raises(ValueError, match=r"not broadcastable with batch_shape\+event_shape: gpunet.Size"
                                         r"\(\[2\]\) vs gpunet.Size\(\[3\]\) \(distribution Normal"):
        d.log_prob(gpunet.zeros(2, device=device))
    with pytest.raises(ValueError, match=r"must be a Tensor \(distribution Normal.*got float\)"):
        d.log_prob(0.5)
    with pytest.raises(ValueError, match="numbers.Number or gpunet.Tensor, got str"):
        Normal("a", 1.0)
    with pytest.raises(TypeError, match="sample_shape must be a sequence of ints"):
        d.sample(5)
    with pytest.raises(NotImplementedError, match="Normal.icdf.*erfinv"):
        d.icdf(gpunet.tensor(0.5))
    Normal(0.0, -1.0, validate_args=False)  # unchecked when asked
