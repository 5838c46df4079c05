"""Categorical(probs=None, logits=None): an index in [0, K) drawn with the (normalised) probabilities of the
last dim; batch_shape is the parameter's shape without that dim."""
import math
from functools import cached_property

import numpy as np

from gpunet import dtypes as _dt
from gpunet.autograd.grad_mode import no_grad
from gpunet.distributions import constraints
from gpunet.distributions.distribution import Distribution
from gpunet.distributions.utils import check_tensor, logits_to_probs, probs_to_logits
from gpunet.ops.creation import arange, full, rand
from gpunet.ops.shape import broadcast_tensors
from gpunet.tensor import Size


class Categorical(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both (Categorical got "
                             f"{'neither' if probs is None else 'both'}).")
        name, given = ("probs", probs) if probs is not None else ("logits", logits)
        check_tensor(given, name, "Categorical")
        if given.dim() < 1:
            raise ValueError(f"`{name}` parameter must be at least one-dimensional (Categorical got a "
                             "0-d tensor; the last dim holds the categories).")
        if probs is not None:
            self.probs = self._param = probs / probs.sum(-1, keepdim=True)
        else:  # normalised so that logsumexp(logits) = 0: logits are log-probabilities
            self.logits = self._param = logits - logits.logsumexp(-1, keepdim=True)
        self._num_events = self._param.shape[-1]
        super().__init__(self._param.shape[:-1], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = Size(batch_shape)
        param_shape = tuple(batch_shape) + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = new._param = self.probs.expand(param_shape)
        if "logits" in self.__dict__:
            new.logits = new._param = self.logits.expand(param_shape)
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @cached_property
    def logits(self):
        return probs_to_logits(self.probs)

    @cached_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return full(self._extended_shape(), math.nan, dtype=self.probs.dtype, device=self.probs.device)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return full(self._extended_shape(), math.nan, dtype=self.probs.dtype, device=self.probs.device)

    def sample(self, sample_shape=Size()):
        """Inverse-CDF sampling on the device: the index is the count of CDF entries at or below u."""
        shape = self._extended_shape(sample_shape)
        with no_grad():
            cdf = self.probs.double().cumsum(-1)
            # u in [0, total): a category of probability zero is never drawn, even when rounding left the
            # total a little under 1
            u = rand(tuple(shape) + (1,), dtype=_dt.float64, device=cdf.device) * cdf[..., -1:]
            return (u >= cdf).sum(-1).clamp(max=self._num_events - 1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        # a probability of zero has logit -inf: clamped, so that 0 * logit is 0, not nan
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype.np).min))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = arange(self._num_events, dtype=_dt.int64, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
