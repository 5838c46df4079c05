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


def smooth_l1(d, beta):
    """(loss, derivative) of smooth L1 for each element of d = input - target, beta > 0."""
    return _run(d, beta, 0.5 / beta, 1.0, 0.5 * beta)


def huber(d, delta):
    """(loss, derivative) of the Huber loss for each element of d = input - target, delta > 0."""
    return _run(d, delta, 0.5, delta, 0.5 * delta * delta)


def error_sum(x, t, squared):
    """sum((x - t)^2) if squared else sum(|x - t|), with NumPy's result type (broadcasting as NumPy's)."""
    d = x - t
    return (d * d).sum() if squared else abs(d).sum()


def error_gradient(x, t, c, squared):
    """c (x - t) if squared else c sign(x - t) (sign 0 at 0 and NaN, as PyTorch's l1_loss gradient); c a
    number or a 0-d array, cast to the result's dtype; broadcasting as NumPy's."""
    d = x - t
    if not squared:
        d = (d > 0).astype(d.dtype) - (d < 0)
    return d * xp.asarray(c, dtype=d.dtype)  # (a 0-d device array stays on the device)
