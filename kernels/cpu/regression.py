"""The elementwise part of the smooth L1 and Huber losses: each element's loss and derivative in one pass.

With d = input - target and z = |d|, both are quadratic inside an edge and linear outside: smooth L1 (edge
beta) 0.5 z^2 / beta, else z - beta / 2; Huber (edge delta) 0.5 z^2, else delta (z - delta / 2). Their
derivatives in d: d / beta, else sign(d); d, else delta sign(d) (NaN stays NaN, 0 gives 0). NumPy took
about ten passes for these (abs, two where, sign, the arithmetic): 65,536 float32 elements 0.18-0.21 ms
forward against PyTorch's 0.04-0.06. The reduction stays NumPy's sum (pairwise, more accurate than a
running one).
"""
import numpy as np
from numba import prange

from kernels.cpu._serial import by_size

__all__ = ["huber", "smooth_l1"]


@by_size(fastmath={"contract"})
def _quadratic_inside(d, loss, deriv, edge, scale, slope, offset, one):
    # inside: loss scale * d^2, derivative 2 * scale * d; outside: slope * z - offset, slope * sign(d)
    for i in prange(d.size):
        v = d[i]
        z = abs(v)
        sign = one if v > 0 else (-one if v < 0 else v)  # 0 and NaN as they are
        inside = z < edge
        loss[i] = scale * v * v if inside else slope * z - offset
        deriv[i] = (scale + scale) * v if inside else slope * sign


def _run(d, edge, scale, slope, offset):
    flat = np.ascontiguousarray(d, dtype=d.dtype if d.dtype in (np.float32, np.float64) else np.float32)
    loss, deriv = np.empty_like(flat), np.empty_like(flat)
    t = flat.dtype.type
    _quadratic_inside(flat.reshape(-1), loss.reshape(-1), deriv.reshape(-1), t(edge), t(scale), t(slope),
                      t(offset), t(1))
    return loss.astype(d.dtype, copy=False), deriv.astype(d.dtype, copy=False)


def smooth_l1(d, beta):
    """(loss, derivative) of smooth L1 for each element of d = input - target, beta > 0."""
    return _run(d, beta, 0.5 / beta, 1.0, 0.5 * beta)


def huber(d, delta):
    """(loss, derivative) of the Huber loss for each element of d = input - target, delta > 0."""
    return _run(d, delta, 0.5, delta, 0.5 * delta * delta)
