"""Uniform(low, high) on [low, high), reparameterisable (rsample = low + u * (high - low))."""
from numbers import Number

from gpunet.distributions import constraints
from gpunet.distributions.distribution import Distribution
from gpunet.distributions.utils import broadcast_all
from gpunet.ops.creation import rand
from gpunet.ops.indexing import where
from gpunet.tensor import Size


class Uniform(Distribution):
    has_rsample = True

    @property
    def arg_constraints(self):
        # each bound checked against the other: low < high, as PyTorch does
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    @property
    def support(self):
        return constraints.interval(self.low, self.high)

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        scalar = isinstance(low, Number) and isinstance(high, Number)
        super().__init__(Size() if scalar else self.low.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Uniform, _instance)
        batch_shape = Size(batch_shape)
        new.low = self.low.expand(batch_shape)
        new.high = self.high.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return self.high * float("nan")

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        """-log(high - low) on [low, high), -inf elsewhere (reached only with validation off)."""
        if self._validate_args:
            self._validate_sample(value)
        inside = (self.low <= value) & (self.high > value)
        # log of the indicator, a constant: the gradient of -log(high - low) flows everywhere, as in PyTorch
        log_indicator = where(inside, 0.0, float("-inf")).to(self.low.dtype)
        return log_indicator - (self.high - self.low).log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()
