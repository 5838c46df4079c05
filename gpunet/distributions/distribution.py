"""Distribution: the base class of gpunet.distributions, with torch.distributions.Distribution's contract.

A sample has shape sample_shape + batch_shape + event_shape; log_prob of a value gives one number per
batch (and sample) element. Unless validation is off (validate_args=False, or
Distribution.set_default_validate_args(False)), parameters are checked against `arg_constraints` when a
distribution is made, and values against `support` in log_prob and cdf: ValueError, as in PyTorch. Each
check reads one bool from the device (PyTorch's checks read the device too); sample, rsample and the
formulas read nothing.
"""
from functools import cached_property

from gpunet.autograd.grad_mode import no_grad
from gpunet.distributions import constraints
from gpunet.distributions.utils import sample_size
from gpunet.ops.shape import stack
from gpunet.ops.unary import exp
from gpunet.tensor import Size, Tensor


class Distribution:
    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__  # on by default, as in PyTorch

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument validation on or off for every distribution made afterwards without validate_args."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=Size(), event_shape=Size(), validate_args=None):
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            self._check_parameters()

    def _check_parameters(self):
        """Every given parameter against its constraint, with one read of the device for all of them."""
        checked = []
        for name, constraint in self.arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            if name not in self.__dict__ and isinstance(getattr(type(self), name, None), cached_property):
                continue  # derived from the parameter given (logits from probs): not the user's input
            checked.append((name, constraint, getattr(self, name)))
        if not checked:
            return
        with no_grad():
            ok = stack([c.check(v).all() for _, c, v in checked]).tolist()
        for good, (name, constraint, value) in zip(ok, checked):
            if not good:
                raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape "
                                 f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                 f"{constraint!r}, but found invalid values:\n{value}")

    def _validate_sample(self, value):
        """value is a Tensor whose shape broadcasts with batch_shape + event_shape and lies in the support."""
        if not isinstance(value, Tensor):
            raise ValueError(f"The value argument to log_prob must be a Tensor (distribution {self!r}, got "
                             f"{type(value).__name__})")
        n_event = len(self._event_shape)
        shape = Size(value.shape)
        if n_event and shape[len(shape) - n_event:] != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {shape} vs "
                             f"{self._event_shape} (distribution {self!r})")
        expected = Size(self._batch_shape + self._event_shape)
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {shape} vs "
                                 f"{expected} (distribution {self!r})")
        support = self.support
        with no_grad():
            good = bool(support.check(value).all())
        if not good:
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) to be within the support ({support!r}) of the "
                             f"distribution {self!r}, but found invalid values:\n{value}")

    def _extended_shape(self, sample_shape=Size()):
        return Size(sample_size(sample_shape) + self._batch_shape + self._event_shape)

    def _get_checked_instance(self, cls, _instance=None):
        """A bare instance for expand(): a subclass with its own __init__ must define its own expand()."""
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(f"Subclass {type(self).__name__} of {cls.__name__} that defines a "
                                      "custom __init__() method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def _not_implemented(self, what):
        return NotImplementedError(f"{type(self).__name__} does not implement {what}")

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def arg_constraints(self):
        raise self._not_implemented("arg_constraints")

    @property
    def support(self):
        raise self._not_implemented("support")

    @property
    def mean(self):
        raise self._not_implemented("mean")

    @property
    def mode(self):
        raise self._not_implemented("mode")

    @property
    def variance(self):
        raise self._not_implemented("variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def expand(self, batch_shape, _instance=None):
        raise self._not_implemented("expand")

    def sample(self, sample_shape=Size()):
        """A sample of shape sample_shape + batch_shape + event_shape, outside autograd."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=Size()):
        raise self._not_implemented("rsample")

    def log_prob(self, value):
        raise self._not_implemented("log_prob")

    def cdf(self, value):
        raise self._not_implemented("cdf")

    def icdf(self, value):
        raise self._not_implemented("icdf")

    def enumerate_support(self, expand=True):
        raise self._not_implemented("enumerate_support")

    def entropy(self):
        raise self._not_implemented("entropy")

    def perplexity(self):
        return exp(self.entropy())

    def __repr__(self):
        shown = []
        for name in self.arg_constraints:
            if name in self.__dict__:
                value = self.__dict__[name]
                shown.append(f"{name}: {value if value.numel() == 1 else value.size()}")
        return f"{type(self).__name__}({', '.join(shown)})"
