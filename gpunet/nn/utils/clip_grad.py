"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm, clip_grads_with_norm_.

Norms are computed on the gradients' device with no host synchronisation (unless
error_if_nonfinite asks for a check), one small reduction per gradient.
"""

import math

import numpy as np

from gpunet.ops.convert import _transfer
from gpunet.ops.creation import tensor as _tensor
from gpunet.tensor import Tensor, _make

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(xp, a, p):
    """The p-norm of all elements of array a, as a 0-d array (float16 accumulated in float32)."""
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    if p == 2.0:
        return xp.sqrt(xp.sum(a * a))
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    if p == math.inf:
        return xp.max(xp.abs(a))
    if p == -math.inf:
        return xp.min(xp.abs(a))
    if p == 0.0:
        return xp.sum(a != 0).astype(a.dtype)
    if p == 1.0:
        return xp.sum(xp.abs(a))
    return xp.sum(xp.abs(a) ** p) ** (1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of `tensors` (as if all were concatenated into one vector)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _tensor(0.0)
    device = tensors[0]._device
    xp = device.xp
    norms = []
    for t in tensors:
        n = _vector_norm(t._device.xp, t._data, norm_type)
        if t._device is not device:
            n = _transfer(n, t._device, device)
        norms.append(n.astype(t._data.dtype, copy=False))
    out_dtype = np.result_type(*[t._data.dtype for t in tensors])
    total = _vector_norm(xp, xp.stack(norms).astype(out_dtype, copy=False), norm_type).astype(out_dtype)
    if error_if_nonfinite and not device.backend.to_host(xp.isfinite(total)):  # a sync, as in PyTorch
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
            "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
            "norm anyway, set `error_if_nonfinite=False`"
        )
    return _make(total, device)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every grad by min(1, max_norm / (total_norm + 1e-6)), in place."""
    grads = [p._grad for p in _as_list(parameters) if p._grad is not None]
    if not grads:
        return
    coef = total_norm._device.xp.minimum(float(max_norm) / (total_norm._data + 1e-6), 1.0)
    for g in grads:
        c = coef if g._device is total_norm._device else _transfer(coef, total_norm._device, g._device)
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 -> nan, as PyTorch gives, no warning
            g._data *= c.astype(g._data.dtype)
        g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale the grads of `parameters` in place so that their total norm is at most max_norm.

    Returns the total norm before clipping (a 0-d tensor on the first grad's device).
    """
    parameters = _as_list(parameters)
    grads = [p._grad for p in parameters if p._grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every grad of `parameters` to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        g = p._grad
        if g is not None:
            g._device.xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._vc[0] += 1
