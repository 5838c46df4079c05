"""In-place ops (`add_`, `mul_`, `x[i] = v`, ...): compute out of place, then write into the tensor's storage.

An in-place op bumps the storage's version counter, so backward can tell when a value it saved was
overwritten. Recorded in-place ops take over the result's history (the tensor's grad_fn changes).
Fills that write values with no history (zero_, fill_, copy_, normal_, ...) are in ops/fill.py.
"""
import numpy as np

from gpunet.autograd.grad_mode import _enabled, no_grad
from gpunet.tensor import Tensor, _make


def check_inplace(t, op):
    """Errors PyTorch gives for in-place ops that autograd cannot record."""
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    if t.grad_fn is not None and getattr(t.grad_fn._fn, "_is_view", False):
        raise RuntimeError(f"{op}: in-place operation on a view ({t.grad_fn.name()}) of a tensor that "
                           "requires grad is not supported by gpunet's autograd; use the out-of-place op, "
                           "or index the base tensor directly (x[idx] = value)")


def commit_inplace(t, result):
    """Write result into t's storage (same shape, castable dtype) and take over result's history."""
    arr, r = t._data, result._data
    if r.shape != arr.shape:
        try:
            r = t._device.xp.broadcast_to(r, arr.shape)
        except ValueError:
            raise RuntimeError(f"output with shape {list(arr.shape)} doesn't match the broadcast shape "
                               f"{list(r.shape)}") from None
    if r.dtype != arr.dtype and not np.can_cast(r.dtype, arr.dtype, casting="same_kind"):
        raise RuntimeError(f"result type {result.dtype.name} can't be cast to the desired output type "
                           f"{t.dtype.name}")
    arr[...] = r
    t._vc[0] += 1
    if result.grad_fn is not None:
        t.grad_fn = result.grad_fn
        t._out_nr = result._out_nr
        t._requires_grad = True
    return t


def inplace(fn, name):
    """Build the in-place method `name` from the out-of-place function fn."""
    def method(self, *args, **kwargs):
        recorded = _enabled[0] and (self._requires_grad or any(
            isinstance(a, Tensor) and a._requires_grad for a in args))
        if recorded:
            check_inplace(self, name)
            return commit_inplace(self, fn(_snapshot(self), *args, **kwargs))
        with no_grad():
            return commit_inplace(self, fn(self, *args, **kwargs))
    method.__name__ = name
    return method


def _snapshot(t):
    """A copy of t's values with t's history: what the recorded op saves must survive the write into t."""
    return _make(t._data.copy(), t._device, t._requires_grad, t.grad_fn, t._out_nr)


def inplace_view(fn, name):
    """Shape-changing in-place methods (`t_`, `unsqueeze_`, ...): t becomes the view fn(t) of its storage."""
    def method(self, *args, **kwargs):
        if _enabled[0] and self._requires_grad:
            check_inplace(self, name)
        out = fn(self, *args, **kwargs)
        self._data = out._data
        self._vc[0] += 1
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self._out_nr = out._out_nr
        return self
    method.__name__ = name
    return method
