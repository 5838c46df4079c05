"""CPU backend: NumPy arrays and kernels.cpu."""
import numpy
import numpy as xp  # noqa: F401

import kernels.cpu as K  # noqa: F401


def to_host(array):
    return array


def from_host(array):
    return array


def make_rng(seed):
    return xp.random.Generator(xp.random.PCG64(seed))


def synchronize():
    pass


def device_assert(key, bad, values, error):
    """Raise error(v), v the first of `values` where the bool array `bad` is true; on the CPU at once.

    (The cuda backend defers the check to its next synchronisation; see there.) `key` names the check.
    """
    if bad.size and bad.any():
        raise error(values.reshape(-1)[bad.reshape(-1).argmax()].item())


def scatter_add(target, index, values):
    """target[index] += values, accumulating repeated indices.

    Row updates (a 1-D integer index into the first axis, as in the embedding backward) take
    kernels.cpu.add_rows, one pass; anything else numpy's (unbuffered, slower) add.at.
    """
    if type(index) is tuple and index and all(isinstance(i, slice) and i == slice(None) for i in index[1:]):
        index = index[0]  # (rows, :, ...): index_select's along dim 0
    if (isinstance(index, xp.ndarray) and index.ndim == 1 and index.dtype.kind in "iu" and target.ndim >= 2
            and values.ndim == target.ndim and values.shape == index.shape + target.shape[1:]):
        K.add_rows(target, index, values)
        return
    xp.add.at(target, index, values)


def cholesky(a):
    """Lower Cholesky factor of (a batch of) symmetric positive-definite matrices, reading the lower
    triangle; raises numpy.linalg.LinAlgError when one is not positive-definite."""
    return xp.linalg.cholesky(a)


def inv(a):
    """Inverse of (a batch of) square matrices; raises numpy.linalg.LinAlgError when one is singular."""
    return xp.linalg.inv(a)


def solve(a, b):
    """x with a @ x = b, b (..., n, k) with a's batch dims; raises numpy.linalg.LinAlgError when singular."""
    return xp.linalg.solve(a, b)


def solve_triangular(a, b, lower):
    """x with a @ x = b, a (..., n, n) triangular with its other triangle already zero, b (..., n, k), equal
    batch dims.

    NumPy has no batched triangular solver (scipy is not a dependency): LAPACK's LU solve gives the same x
    for a triangular matrix. A singular one (a zero on the diagonal) gets substitution, whose inf/nan
    are what torch.linalg.solve_triangular returns there."""
    try:
        return xp.linalg.solve(a, b)
    except xp.linalg.LinAlgError:
        return substitute(xp, a, b, lower)


def substitute(xp, a, b, lower):
    """Forward (lower) or back substitution, one row of x at a time over the whole batch."""
    x = xp.zeros(b.shape, dtype=xp.result_type(a, b))
    n = a.shape[-1]
    with numpy.errstate(divide="ignore", invalid="ignore"):
        for i in range(n) if lower else range(n - 1, -1, -1):
            rest = (a[..., i, :, None] * x).sum(-2)  # rows of x not solved yet are still zero
            x[..., i, :] = (b[..., i, :] - rest) / a[..., i, i, None]
    return x
