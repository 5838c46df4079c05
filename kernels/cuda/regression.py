"""The elementwise part of the smooth L1 and Huber losses on the device (kernels/cpu/regression.py's)."""
from kernels.cuda._launch import xp

__all__ = ["huber", "smooth_l1"]


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
