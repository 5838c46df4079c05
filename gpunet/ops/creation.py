"""Creating tensors: tensor (from gpunet._from_data), as_tensor, from_numpy, zeros/ones/full/empty, eye,
ranges, random, *_like, and the legacy constructors (Tensor(...), FloatTensor, ...)."""
import math

import numpy as np

from gpunet import dtypes as _dt
from gpunet._from_data import is_sequence, tensor
from gpunet.backend import CPU, CUDA0, canonical
from gpunet.random import rng_for
from gpunet.tensor import Tensor, _make


def _finish(array, device, requires_grad):
    t = _make(array, device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a NumPy array or Tensor when dtype and device allow."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device is not None or dtype is not None) else data
    if isinstance(data, np.ndarray) and (device is None or canonical(device) is CPU):
        if dtype is None or _dt.to_dtype(dtype).np == data.dtype:
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray):
    """A CPU tensor sharing memory with the NumPy array."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dt.from_numpy_dtype(ndarray.dtype)
    return _make(ndarray, CPU)


def from_dlpack(ext_tensor):
    """Zero-copy import from any object with __dlpack__ (NumPy, CuPy, PyTorch, gpunet)."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    dev_type, _ = ext_tensor.__dlpack_device__()
    if int(dev_type) == 1:  # kDLCPU
        return _make(np.from_dlpack(ext_tensor), CPU)
    return _make(CUDA0.xp.from_dlpack(ext_tensor), CUDA0)


def _size_args(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}(): size must be a sequence of ints, got {size!r}") from None
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}(): Trying to create tensor with negative dimension: {list(size)}")
    return size


def _dtype_or_default(dtype):
    return (_dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()).np


def _filled(fill, size, dtype, device, requires_grad, op):
    dev = canonical(device)
    arr = dev.xp.full(_size_args(size, op), fill, dtype=_dtype_or_default(dtype))
    return _finish(arr, dev, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    dev = canonical(device)
    return _finish(dev.xp.zeros(_size_args(size, "zeros"), dtype=_dtype_or_default(dtype)), dev,
                   requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    return _finish(dev.xp.ones(_size_args(size, "ones"), dtype=_dtype_or_default(dtype)), dev, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None, pin_memory=False):
    dev = canonical(device)
    return _finish(dev.xp.empty(_size_args(size, "empty"), dtype=_dtype_or_default(dtype)), dev,
                   requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = _dt.result_type(fill_value, fill_value) if not isinstance(fill_value, float) else None
    return _filled(fill_value, (size,) if isinstance(size, int) else size, dtype, device, requires_grad,
                   "full")


def _like(input, dtype, device):
    return (input.dtype if dtype is None else dtype), (input._device if device is None else device)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dtype, device = _like(input, dtype, device)
    return zeros(input._data.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dtype, device = _like(input, dtype, device)
    return ones(input._data.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dtype, device = _like(input, dtype, device)
    return empty(input._data.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dtype, device = _like(input, dtype, device)
    return full(input._data.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    return _finish(dev.xp.eye(n, m if m is not None else n, dtype=_dtype_or_default(dtype)), dev,
                   requires_grad)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) row and column indices of a row x col matrix's lower triangle (offset: diagonals above
    the main one included; negative, below it excluded), row by row, int64 by default."""
    return _triangle_indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """As tril_indices, for the upper triangle (offset: diagonals above the main one excluded)."""
    return _triangle_indices(np.triu_indices, row, col, offset, dtype, device)


def _triangle_indices(numpy_fn, row, col, offset, dtype, device):
    dtype = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    if dtype not in (_dt.int32, _dt.int64):
        raise RuntimeError("\"tril_indices\"/\"triu_indices\" only support int32 and int64 dtypes, got "
                           f"{dtype}")
    rows, cols = numpy_fn(row, offset, col)
    dev = canonical(device)
    return _finish(dev.xp.asarray(np.stack([rows, cols]).astype(dtype.np)), dev, False)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    values = [v for v in (start, end, step)]
    if dtype is None:
        is_float = any(isinstance(v, float) or (isinstance(v, Tensor) and v.is_floating_point())
                       for v in values)
        dtype = _dt.get_default_dtype() if is_float else _dt.int64
    dev = canonical(device)
    start, end, step = (float(v) if isinstance(v, Tensor) else v for v in values)
    n = max(0, math.ceil((end - start) / step))
    arr = (dev.xp.arange(n, dtype=np.float64) * step + start).astype(_dt.to_dtype(dtype).np)
    return _finish(arr, dev, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    return _finish(dev.xp.linspace(start, end, steps).astype(_dtype_or_default(dtype)), dev, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    return _finish(dev.xp.logspace(start, end, steps, base=base).astype(_dtype_or_default(dtype)), dev,
                   requires_grad)


# ---- random ----------------------------------------------------------------------------------------
def _rng(generator, dev):
    if generator is not None:
        if dev is not CPU:
            raise RuntimeError("a gpunet.Generator is a CPU generator; "
                               "use gpunet.manual_seed for cuda tensors")
        return generator._rng
    return rng_for(dev)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    np_dtype = _dtype_or_default(dtype)
    arr = _rng(generator, dev).random(_size_args(size, "rand"), dtype=np.float64).astype(np_dtype)
    return _finish(arr, dev, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    np_dtype = _dtype_or_default(dtype)
    arr = _rng(generator, dev).standard_normal(_size_args(size, "randn"), dtype=np.float64).astype(np_dtype)
    return _finish(arr, dev, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    elif size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dev = canonical(device)
    np_dtype = (_dt.to_dtype(dtype) if dtype is not None else _dt.int64).np
    arr = _rng(generator, dev).integers(low, high, size=_size_args((size,), "randint")).astype(np_dtype)
    return _finish(arr, dev, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    dev = canonical(device)
    np_dtype = (_dt.to_dtype(dtype) if dtype is not None else _dt.int64).np
    # the order of n uniform draws: CuPy's Generator has no permutation()
    order = dev.xp.argsort(_rng(generator, dev).random(n, dtype=np.float64))
    return _finish(order.astype(np_dtype), dev, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return rand(input._data.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return randn(input._data.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None):
    dtype, device = _like(input, dtype, device)
    return randint(low, high, input._data.shape, dtype=dtype, device=device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        return randn(ref._data.shape, generator=generator, dtype=ref.dtype, device=ref._device) * std + mean
    return randn(size, generator=generator, dtype=dtype, device=device) * std + mean


def bernoulli(input, p=None, *, generator=None):
    probs = input._data if p is None else p
    dev = input._device
    draw = _rng(generator, dev).random(input._data.shape, dtype=np.float64)
    return _make((draw < probs).astype(input._data.dtype), dev)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Sample indices from rows of (unnormalised) probabilities."""
    probs = np.asarray(input.detach()._host(), dtype=np.float64)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {probs.ndim}")
    if (probs < 0).any() or not np.isfinite(probs).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    rows = probs.reshape(-1, probs.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot sample n_sample ({num_samples}) > prob_dist.size(-1) "
                           f"({rows.shape[1]}) samples without replacement")
    rng = _rng(generator, CPU)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        total = row.sum()
        if total <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        out[i] = rng.choice(row.size, size=num_samples, replace=replacement, p=row / total)
    out = out.reshape(probs.shape[:-1] + (num_samples,))
    dev = input._device
    return _make(out if dev is CPU else dev.backend.from_host(out), dev)


# ---- legacy constructors ---------------------------------------------------------------------------
def legacy_new(cls, args, device, dtype):
    """Tensor(data) copies data; Tensor(*sizes) allocates; Tensor() is empty. Default float dtype."""
    dtype = dtype or _dt.get_default_dtype()
    if len(args) == 0:
        t = empty(0, dtype=dtype, device=device)
    elif len(args) == 1 and not isinstance(args[0], int):
        data = args[0]
        if isinstance(data, Tensor):
            t = data.to(dtype) if data.dtype is not dtype else data.detach()
        elif is_sequence(data) or isinstance(data, np.ndarray):
            t = tensor(data, dtype=dtype, device=device)
        else:
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
    else:
        t = zeros(*args, dtype=dtype, device=device)
    if cls is not Tensor and hasattr(cls, "_from_tensor"):
        return cls._from_tensor(t)
    return t


def _rebuild(array, device, requires_grad):
    t = tensor(array, device=device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _legacy_class(name, dtype):
    def new(cls, *args, device=None):
        return legacy_new(Tensor, args, device, dtype)
    meta = type("LegacyTensorType", (type,), {
        "__instancecheck__": lambda cls, obj: isinstance(obj, Tensor) and obj.dtype is dtype,
    })
    return meta(name, (), {"__new__": new, "_legacy_dtype": dtype, "__module__": "gpunet"})


FloatTensor = _legacy_class("FloatTensor", _dt.float32)
DoubleTensor = _legacy_class("DoubleTensor", _dt.float64)
HalfTensor = _legacy_class("HalfTensor", _dt.float16)
LongTensor = _legacy_class("LongTensor", _dt.int64)
IntTensor = _legacy_class("IntTensor", _dt.int32)
ShortTensor = _legacy_class("ShortTensor", _dt.int16)
CharTensor = _legacy_class("CharTensor", _dt.int8)
ByteTensor = _legacy_class("ByteTensor", _dt.uint8)
BoolTensor = _legacy_class("BoolTensor", _dt.bool_)
