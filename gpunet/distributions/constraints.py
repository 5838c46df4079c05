"""Constraints: what a parameter or a value of a distribution must satisfy (torch.distributions.constraints).

`check(value)` gives a bool tensor over the value's batch (the last `event_dim` dims are reduced), without
gradient. The names users meet are PyTorch's: `real`, `positive`, `simplex`, ... (instances) and
`greater_than(lb)`, `interval(lb, ub)`, ... (classes), with PyTorch's reprs in error messages.
"""
from gpunet.ops.indexing import tril
from gpunet.ops.linalg import positive_definite as _positive_definite

__all__ = [
    "Constraint", "boolean", "dependent", "greater_than", "independent", "integer_interval", "interval",
    "is_dependent", "less_than", "lower_cholesky", "positive", "positive_definite", "real", "real_vector",
    "simplex", "unit_interval",
]


class Constraint:
    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self):
        return type(self).__name__.lstrip("_") + "()"


class _Dependent(Constraint):
    """A constraint that depends on other parameters (or none that can be checked alone): never checked."""

    def check(self, value):
        raise ValueError("Cannot determine validity of dependent constraint")


def is_dependent(constraint):
    return isinstance(constraint, _Dependent)


class _Real(Constraint):
    def check(self, value):
        return value == value  # false only for nan


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _GreaterThan(Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return value > self.lower_bound

    def __repr__(self):
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _LessThan(Constraint):
    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value):
        return value < self.upper_bound

    def __repr__(self):
        return f"LessThan(upper_bound={self.upper_bound})"


class _Interval(Constraint):
    """lower_bound <= value <= upper_bound."""

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self):
        return f"Interval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _IntegerInterval(_Interval):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & super().check(value)

    def __repr__(self):
        return "Integer" + super().__repr__()


class _Independent(Constraint):
    """A base constraint over the last `reinterpreted_batch_ndims` dims taken as one event."""

    def __init__(self, base_constraint, reinterpreted_batch_ndims):
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        self.event_dim = base_constraint.event_dim + reinterpreted_batch_ndims
        self.is_discrete = base_constraint.is_discrete

    def check(self, value):
        ok = self.base_constraint.check(value)
        n = self.reinterpreted_batch_ndims
        return ok.reshape(tuple(ok.shape[:ok.dim() - n]) + (-1,)).all(-1) if n else ok

    def __repr__(self):
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _Simplex(Constraint):
    """Non-negative along the last dim, summing to 1 (to 1e-6)."""
    event_dim = 1

    def check(self, value):
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _PositiveDefinite(Constraint):
    event_dim = 2

    def check(self, value):
        return _positive_definite(value)


class _LowerCholesky(Constraint):
    """Lower triangular with a positive diagonal."""
    event_dim = 2

    def check(self, value):
        n = value.shape[-1]
        lower = (tril(value) == value).reshape(tuple(value.shape[:-2]) + (-1,)).all(-1)
        index = list(range(n))
        return lower & (value[..., index, index] > 0).all(-1)


dependent = _Dependent()
real = _Real()
real_vector = _Independent(real, 1)
boolean = _Boolean()
positive = _GreaterThan(0.0)
unit_interval = _Interval(0.0, 1.0)
simplex = _Simplex()
positive_definite = _PositiveDefinite()
lower_cholesky = _LowerCholesky()
greater_than = _GreaterThan
less_than = _LessThan
interval = _Interval
integer_interval = _IntegerInterval
independent = _Independent
