"""Probability distributions with torch.distributions' API: sample/rsample, log_prob, entropy, moments,
argument validation, and kl_divergence between registered pairs.

    from gpunet.distributions import Categorical, Normal
    dist = Categorical(logits=policy(state)); action = dist.sample(); loss = -dist.log_prob(action) * ret

Every formula is built from differentiable gpunet ops, so gradients reach the parameters (log_prob,
entropy, kl_divergence, rsample); samples come from gpunet's generators (gpunet.manual_seed).
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.distributions import constraints  # noqa: F401
from gpunet.distributions.bernoulli import Bernoulli
from gpunet.distributions.categorical import Categorical
from gpunet.distributions.distribution import Distribution
from gpunet.distributions.kl import kl_divergence, register_kl
from gpunet.distributions.multivariate_normal import MultivariateNormal
from gpunet.distributions.normal import Normal
from gpunet.distributions.uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "MultivariateNormal", "Normal", "Uniform",
           "constraints", "kl_divergence", "register_kl"]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
