"""MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril): the Gaussian on R^n.

Everything goes through the lower Cholesky factor L of the covariance (L @ L^T = covariance): rsample is
loc + L @ eps, log_prob solves L y = value - loc (a triangular solve, no inverse), log det = 2 sum log diag L.
L keeps the parameter's own batch shape (not the broadcast one), so a shared covariance is solved once.
"""
import math
from functools import cached_property

import numpy as np

from gpunet.distributions import constraints
from gpunet.distributions.distribution import Distribution
from gpunet.distributions.utils import check_tensor
from gpunet.ops.creation import eye, randn
from gpunet.ops.linalg import cholesky, solve_triangular
from gpunet.ops.shape import flip
from gpunet.tensor import Size

_MATRICES = ("covariance_matrix", "precision_matrix", "scale_tril")


def diagonal(m):
    """The diagonals of a batch of square matrices: shape (..., n)."""
    index = list(range(m.shape[-1]))
    return m[..., index, index]


def mahalanobis(L, diff):
    """|L^-1 diff|^2 over the last dim, L (..., n, n) lower triangular, diff (..., n), batch dims broadcast.

    The dims of diff beyond L's batch dims (samples) become columns of one right-hand side, so each L
    takes a single solve."""
    n, k = L.shape[-1], L.dim() - 2
    lead = tuple(np.broadcast_shapes(tuple(diff.shape[:-1]), tuple(L.shape[:-2])))
    diff = diff.expand(lead + (n,))
    outer, inner = lead[:len(lead) - k], lead[len(lead) - k:]
    cols = diff.reshape((-1,) + inner + (n,)).movedim(0, -1)  # inner + (n, m)
    y = solve_triangular(L, cols, upper=False)
    return y.pow(2).sum(-2).movedim(-1, 0).reshape(outer + inner)


def _precision_to_scale_tril(P):
    # With J the reversal permutation, chol(J P J) = Lf gives P = U U^T, U = J Lf J upper triangular; then
    # covariance = P^-1 = U^-T U^-1, and L = U^-T = (U^T)^-1 is lower triangular with a positive diagonal.
    Lf = cholesky(flip(P, (-2, -1)))
    Ut = flip(Lf, (-2, -1)).mT
    identity = eye(P.shape[-1], dtype=P.dtype, device=P.device)
    return solve_triangular(Ut, identity, upper=False)


class MultivariateNormal(Distribution):
    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        owner = "MultivariateNormal"
        check_tensor(loc, "loc", owner)
        if loc.dim() < 1:
            raise ValueError(f"loc must be at least one-dimensional ({owner} got a 0-d tensor).")
        given = [(name, m) for name, m in zip(_MATRICES, (covariance_matrix, precision_matrix, scale_tril))
                 if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                             f"specified ({owner} got {', '.join(n for n, _ in given) or 'none'}).")
        name, matrix = given[0]
        check_tensor(matrix, name, owner)
        if matrix.dim() < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional leading batch "
                             f"dimensions ({owner} got shape {tuple(matrix.shape)}).")
        n = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (n, n):
            raise ValueError(f"{owner}: {name} of shape {tuple(matrix.shape)} does not fit loc of shape "
                             f"{tuple(loc.shape)}: expected {n} x {n} matrices")
        try:
            batch_shape = Size(np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        except ValueError:
            raise ValueError(f"{owner}: the batch shapes of loc {tuple(loc.shape)} and {name} "
                             f"{tuple(matrix.shape)} do not broadcast") from None
        self.__dict__[name] = matrix.expand(tuple(batch_shape) + (n, n))
        self.loc = loc.expand(tuple(batch_shape) + (n,))
        super().__init__(batch_shape, Size((n,)), validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(batch_shape)
        n = self._event_shape[0]
        new.loc = self.loc.expand(tuple(batch_shape) + (n,))
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in _MATRICES:
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(tuple(batch_shape) + (n, n))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _full(self, matrix):
        return matrix.expand(tuple(self._batch_shape) + tuple(self._event_shape) * 2)

    @cached_property
    def scale_tril(self):
        return self._full(self._unbroadcasted_scale_tril)

    @cached_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return self._full(L @ L.mT)

    @cached_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        identity = eye(L.shape[-1], dtype=L.dtype, device=L.device)
        L_inv = solve_triangular(L, identity, upper=False)
        return self._full(L_inv.mT @ L_inv)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        L = self._unbroadcasted_scale_tril
        return L.pow(2).sum(-1).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    def _half_log_det(self):
        return diagonal(self._unbroadcasted_scale_tril).log().sum(-1)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self._event_shape[0]
        m = mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (n * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        n = self._event_shape[0]
        h = 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(self._batch_shape) if len(self._batch_shape) else h
