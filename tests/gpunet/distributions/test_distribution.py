"""The Distribution base class: validation switches, what a subclass must implement, how the package is
reached (import gpunet as torch), device reads on cuda, and the programs that use distributions
(REINFORCE with Categorical, a VAE's reparameterised Normal)."""
import numpy as np
import pytest

import gpunet
import gpunet.distributions
from gpunet.distributions import Bernoulli, Categorical, Distribution, MultivariateNormal, Normal, Uniform

from tests.helpers import to_numpy


@pytest.fixture
def restore_default_validation():
    saved = Distribution._validate_args
    yield
    Distribution._validate_args = saved


def test_validation_on_by_default_and_switchable(restore_default_validation):
    assert Distribution._validate_args is True
    assert Normal(0.0, 1.0, validate_args=False)._validate_args is False
    Distribution.set_default_validate_args(False)
    Normal(0.0, -1.0)  # not checked
    Uniform(0.0, 1.0).log_prob(gpunet.tensor(5.0))
    with pytest.raises(ValueError, match="scale"):
        Normal(0.0, -1.0, validate_args=True)  # the instance's choice wins
    Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="scale"):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="expects True or False, got 3"):
        Distribution.set_default_validate_args(3)


def test_package_is_reached_as_torch_distributions():
    import gpunet as torch
    assert torch.distributions.Categorical is Categorical
    assert torch.distributions.kl_divergence is gpunet.distributions.kl.kl_divergence
    assert set(gpunet.distributions.__all__) >= {"Bernoulli", "Categorical", "Distribution",
                                                  "MultivariateNormal", "Normal", "Uniform", "constraints",
                                                  "kl_divergence", "register_kl"}


def test_subclass_contract():
    class Bare(Distribution):
        arg_constraints = {}

        def __init__(self):
            super().__init__(gpunet.Size([2]))

    d = Bare()
    assert d.batch_shape == (2,) and d.event_shape == () and repr(d) == "Bare()"
    assert not d.has_rsample and not d.has_enumerate_support
    for call, what in [(lambda: d.mean, "mean"), (lambda: d.variance, "variance"),
                       (lambda: d.rsample(), "rsample"), (lambda: d.sample(), "rsample"),
                       (lambda: d.log_prob(gpunet.zeros(2)), "log_prob"), (lambda: d.entropy(), "entropy"),
                       (lambda: d.cdf(gpunet.zeros(2)), "cdf"), (lambda: d.support, "support"),
                       (lambda: d.enumerate_support(), "enumerate_support")]:
        with pytest.raises(NotImplementedError, match=f"Bare does not implement {what}"):
            call()

    class MyNormal(Normal):
        def __init__(self, loc):
            super().__init__(loc, 1.0)

    with pytest.raises(NotImplementedError, match="custom __init__.*must also define a custom .expand"):
        MyNormal(gpunet.zeros(2)).expand((3, 2))


def test_perplexity_and_stddev():
    d = Categorical(probs=gpunet.ones(4))
    assert float(d.perplexity()) == pytest.approx(4.0)
    assert float(Uniform(0.0, 1.0).stddev) == pytest.approx(12 ** -0.5)


DISTRIBUTIONS = {
    "Normal": lambda d, v: Normal(gpunet.zeros(3, device=d), gpunet.ones(3, device=d), validate_args=v),
    "Uniform": lambda d, v: Uniform(gpunet.zeros(3, device=d), gpunet.ones(3, device=d), validate_args=v),
    "Categorical": lambda d, v: Categorical(logits=gpunet.zeros(2, 4, device=d), validate_args=v),
    "Bernoulli": lambda d, v: Bernoulli(logits=gpunet.zeros(3, device=d), validate_args=v),
    "MultivariateNormal": lambda d, v: MultivariateNormal(gpunet.zeros(2, device=d), validate_args=v,
                                                          scale_tril=gpunet.eye(2, device=d)),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_no_device_reads_on_cuda_but_validation(name):
    if not gpunet.cuda.is_simulated():
        pytest.skip("counting synchronisations needs the strict simulator (GPUNET_CUDA_SIM=1)")
    from kernels.cuda import strict_sim
    make = DISTRIBUTIONS[name]
    strict_sim.syncs.clear()
    d = make("cuda", False)
    x = d.sample((2,))
    d.log_prob(x), d.entropy()
    if d.has_rsample:
        d.rsample((2,))
    assert dict(strict_sim.syncs) == {}
    gpunet.cuda.synchronize()  # reads the device asserts pending (Categorical's gather index check)
    strict_sim.syncs.clear()
    d = make("cuda", True)  # validation: one read of the device for all parameters, one per value checked
    assert dict(strict_sim.syncs) == {"asnumpy": 1}
    d.log_prob(x)
    assert dict(strict_sim.syncs) == {"asnumpy": 2}


def test_reinforce_step_reaches_the_policy(device):
    gpunet.manual_seed(0)
    policy = gpunet.nn.Linear(4, 3).to(device)
    state = gpunet.randn(5, 4, device=device)
    dist = Categorical(logits=policy(state))
    action = dist.sample()
    returns = gpunet.arange(5, dtype=gpunet.float32, device=device)
    loss = -(dist.log_prob(action) * returns).mean() - 0.01 * dist.entropy().mean()
    loss.backward()
    assert policy.weight.grad is not None and np.isfinite(to_numpy(policy.weight.grad)).all()
    assert action.shape == (5,) and not action.requires_grad


def test_vae_reparameterised_normal_and_kl(device):
    gpunet.manual_seed(0)
    mu = gpunet.zeros(4, 2, device=device, requires_grad=True)
    log_var = gpunet.zeros(4, 2, device=device, requires_grad=True)
    q = Normal(mu, (0.5 * log_var).exp())
    z = q.rsample()
    prior = Normal(gpunet.zeros_like(mu), gpunet.ones_like(mu))  # Normal(0., 1.) would be on the cpu
    kl = gpunet.distributions.kl_divergence(q, prior).sum()
    (z.pow(2).sum() + kl).backward()
    assert mu.grad is not None and log_var.grad is not None and float(kl) == pytest.approx(0.0)
