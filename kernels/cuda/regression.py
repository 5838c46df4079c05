"""The elementwise part of the smooth L1 and Huber losses, and the mean squared error's and L1 loss's
sums and gradients, on the device (kernels/cpu/regression.py's)."""
from kernels.cuda._launch import xp

__all__ = ["error_gradient", "error_sum", "huber", "smooth_l1"]


def _run(d, edge, scale, slope, offset):
    z = abs(d)
    inside = z < edge
    loss = xp.where(inside, scale * d * d, slope * z - offset)
    deriv = xp.where(inside, (2 * scale) * d, slope * xp.sign(d))
    return loss.astype(d.dtype, copy=False), deriv.astype(d.dtype, copy=False)


_SHAPES = {"smooth_l1": lambda beta: (beta, 0.5 / beta, 1.0, 0.5 * beta),
           "huber": lambda delta: (delta, 0.5, delta, 0.5 * delta * delta)}


def smooth_l1(d, beta):
    """(loss, derivative) of smooth L1 for each element of d = input - target, beta > 0."""
    return _run(d, *_SHAPES["smooth_l1"](beta))


def huber(d, delta):
    """(loss, derivative) of the Huber loss for each element of d = input - target, delta > 0."""
    return _run(d, *_SHAPES["huber"](delta))


def error_sum(x, t, kind, param=None):
    """The sum over the elements of d = x - t of d^2 (kind "mse"), |d| ("l1"), or smooth_l1's or huber's
    loss (param: beta or delta), with NumPy's result type (broadcasting as NumPy's)."""
    d = x - t
    if kind in _SHAPES:
        return _run(d, *_SHAPES[kind](param))[0].sum()
    return (d * d).sum() if kind == "mse" else abs(d).sum()


def error_gradient(x, t, c, kind, param=None):
    """c times the derivative in d = x - t of error_sum's terms, except for mse: c d (the caller's c holds
    the 2); l1: c sign(d), sign 0 at 0 and NaN as PyTorch's l1_loss gradient; smooth_l1 and huber: their
    derivatives (NaN at NaN). c a number or a 0-d array, cast to the result's dtype; broadcasting as
    NumPy's."""
    d = x - t
    if kind in _SHAPES:
        d = _run(d, *_SHAPES[kind](param))[1]
    elif kind == "l1":
        d = (d > 0).astype(d.dtype) - (d < 0)
    return d * xp.asarray(c, dtype=d.dtype)  # (a 0-d device array stays on the device)
