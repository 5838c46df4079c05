"""In-place ops (`add_`, `mul_`, `zero_`, `normal_`, ...): compute, then write into the tensor's storage.

An in-place op bumps the storage's version counter, so backward can tell when a value it saved was
overwritten. Recorded in-place ops take over the result's history (the tensor's grad_fn changes).
"""
import numpy as np

from gpunet.autograd.function import Op
from gpunet.autograd.grad_mode import _enabled, no_grad
from gpunet.random import rng_for
from gpunet.tensor import Tensor, _make


def check_inplace(t, op):
    """Errors PyTorch gives for in-place ops that autograd cannot record."""
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation.")
    if t.grad_fn is not None and getattr(t.grad_fn._fn, "_is_view", False):
        raise RuntimeError(f"{op}: in-place operation on a view ({t.grad_fn.name()}) of a tensor that requires "
                           "grad is not supported by gpunet's autograd; use the out-of-place op, or index the "
                           "base tensor directly (x[idx] = value)")


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


class _Overwritten(Op):
    """History of a tensor overwritten by fill_/zero_/random fills: the gradient to what came before is 0."""
    _backward_name = "FillBackward0"

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, g):
        return ctx.device.xp.zeros_like(g)


def _write(t, value, name):
    """Overwrite t with a value that carries no history (fill_, zero_, random fills)."""
    if _enabled[0] and t._requires_grad:
        check_inplace(t, name)
    t._data[...] = value
    t._vc[0] += 1
    if _enabled[0] and t.grad_fn is not None:  # stays in the graph, passing zero gradient (as PyTorch)
        t.grad_fn = _Overwritten.apply(t).grad_fn
        t._out_nr = 0
    return t


def zero_(self):
    return _write(self, 0, "zero_")


def fill_(self, value):
    if isinstance(value, Tensor):
        value = value.item()
    return _write(self, value, "fill_")


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    src_here = src.to(device=self._device, dtype=self.dtype) if (
        src._device is not self._device or src._data.dtype != self._data.dtype) else src
    if _enabled[0] and (self._requires_grad or src._requires_grad):
        check_inplace(self, "copy_")
        from gpunet.ops.shape import expand
        return commit_inplace(self, expand(src_here, self._data.shape) * 1)
    self._data[...] = src_here._data
    self._vc[0] += 1
    return self


def _random_fill(self, draw, name):
    rng = rng_for(self._device)
    return _write(self, draw(rng, self._data.shape).astype(self._data.dtype, copy=False), name)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    rng = generator._rng if generator is not None else None
    if rng is not None:
        return _write(self, rng.normal(mean, std, self._data.shape).astype(self._data.dtype), "normal_")
    return _random_fill(self, lambda r, s: r.standard_normal(s) * std + mean, "normal_")


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    if generator is not None:
        return _write(self, generator._rng.uniform(a, b, self._data.shape).astype(self._data.dtype), "uniform_")
    return _random_fill(self, lambda r, s: r.random(s) * (b - a) + a, "uniform_")


def exponential_(self, lambd=1.0, *, generator=None):
    return _random_fill(self, lambda r, s: r.exponential(1.0 / lambd, s), "exponential_")


def bernoulli_(self, p=0.5, *, generator=None):
    return _random_fill(self, lambda r, s: r.random(s) < p, "bernoulli_")


def random_(self, low=0, high=None, *, generator=None):
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return _random_fill(self, lambda r, s: r.integers(low, high, s), "random_")


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    return _random_fill(self, lambda r, s: r.lognormal(mean, std, s), "log_normal_")
