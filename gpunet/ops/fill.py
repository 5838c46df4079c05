"""In-place fills: zero_, fill_, copy_ and the random fills (normal_, uniform_, ...).

They overwrite a tensor's storage with values that carry no history (copy_ records the copy when
its source requires grad), bumping the version counter as every in-place op does.
"""
from gpunet.autograd.function import Op
from gpunet.autograd.grad_mode import _enabled
from gpunet.autograd.higher_order import const
from gpunet.ops.inplace import check_inplace, commit_inplace
from gpunet.ops.shape import expand
from gpunet.random import rng_for
from gpunet.tensor import Tensor


class _Overwritten(Op):
    """History of a tensor overwritten by fill_/zero_/random fills: the gradient to what came before is 0."""
    _backward_name = "FillBackward0"

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, g):
        return ctx.device.xp.zeros_like(g)

    @staticmethod
    def backward_graph(ctx, g):
        return const(ctx, ctx.device.xp.zeros_like(g._data))  # a constant: zero whatever g is


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
        draw = generator._rng.uniform(a, b, self._data.shape)
        return _write(self, draw.astype(self._data.dtype), "uniform_")
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
