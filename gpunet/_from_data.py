"""tensor(data): a new Tensor copied from Python data (numbers, sequences, NumPy arrays, Tensors).

It sits beside Tensor, below autograd and ops, because autograd needs it too (a gradient given as
a list, `autograd.Variable`); `gpunet.tensor` is this function, re-exported by ops.creation.

What counts as data is PyTorch's rule: a number (bool, int, float, a NumPy scalar, a one-element
tensor), a NumPy array, or a sequence of data -- anything with `__len__` and `__getitem__` (list,
tuple, range, collections.deque, array.array, memoryview, a user's sequence class), nested to a
rectangular shape. Iterators, generators, sets and dicts are refused: they have no order or length to
read a shape from. The dtype is inferred as PyTorch does: each number proposes one (bool; int64 for
a Python int; the default float dtype for a Python float; its own for a NumPy scalar, array or tensor)
and the proposals are promoted (bool < integers < floating point, then NumPy's rule within a kind).
"""
import array
import collections
import collections.abc

import numpy as np

from gpunet import dtypes as _dt
from gpunet.backend import CPU, canonical
from gpunet.tensor import Tensor, _make

_HINT = ("tensor() takes a number, a sequence (list, tuple, range, deque, ...), a NumPy array or a Tensor; "
         "build a list first, e.g. list(...)")
_AS_LIST = (collections.deque, range, array.array, memoryview)  # read by iterating, not by index
_PY_KIND = {bool: "bool", int: "int", float: "float"}


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Copy data (numbers, nested sequences, NumPy arrays, tensors) into a new tensor."""
    dev = canonical(device) if device is not None else (data._device if isinstance(data, Tensor) else CPU)
    host = host_array(data, None if dtype is None else _dt.to_dtype(dtype))
    t = _make(dev.backend.from_host(host) if dev is not CPU else host, dev)
    return t.requires_grad_(True) if requires_grad else t


def is_sequence(obj):
    """PyTorch's test for nested data: has __len__ and __getitem__, and is not a str, bytes or mapping
    (a bytearray is a sequence of ints)."""
    if isinstance(obj, (list, tuple)):
        return True
    cls = type(obj)
    return (hasattr(cls, "__getitem__") and hasattr(cls, "__len__")
            and not isinstance(obj, (str, bytes, collections.abc.Mapping, np.ndarray, Tensor)))


def host_array(data, dtype=None):
    """A new NumPy array holding data, in gpunet dtype `dtype` or the one PyTorch infers.

    Numbers converted to an integer dtype must fit it, as in PyTorch: a negative integer wraps into
    an unsigned dtype (`tensor([-1], dtype=uint8)` holds 255), anything else out of range is an error.
    Arrays and tensors are converted without checks (`tensor(np.array([300]), dtype=uint8)` holds 44)."""
    if isinstance(data, Tensor):
        src = data.detach()._host()
        return _cast(src, dtype.np) if dtype is not None else np.array(src)
    if isinstance(data, np.ndarray):
        if dtype is None:
            return np.array(data, dtype=_array_dtype(data).np)
        _array_dtype(data, check_only_kind=True)
        return _cast(data, dtype.np)
    # fast paths: a Python number, a flat list or tuple of them
    cls = type(data)
    types = {cls} if cls in _PY_KIND else set(map(type, data)) if cls in (list, tuple) else ()
    if types and types.issubset(_PY_KIND):
        kinds, values = {_PY_KIND[t] for t in types}, data
    else:
        kinds = set()  # the kind of every number found: "bool", "int", "float" or a NumPy dtype
        values = _walk(data, 0, _shape(data), kinds)
    if dtype is None:
        dtype = _infer(kinds)
    return _convert(values, kinds, dtype.np)


# ---- reading nested data ---------------------------------------------------------------------------
def _items(seq):
    if isinstance(seq, (list, tuple)):
        return seq
    if isinstance(seq, _AS_LIST):
        return list(seq)
    return [seq[i] for i in range(len(seq))]  # the sequence protocol: len() items, read by index


def _shape(data):
    """The shape the first element at each depth proposes (PyTorch reads it the same way)."""
    shape = []
    while True:
        if isinstance(data, np.ndarray):
            return shape + list(data.shape)
        if not is_sequence(data):
            return shape
        n = len(data)
        shape.append(n)
        if n == 0:
            return shape
        data = data[0]


def _walk(data, dim, shape, kinds):
    """data as nested lists (or tuples) of Python/NumPy scalars and NumPy arrays that np.array reads,
    checked to have `shape`; the kind of every number found is added to `kinds`."""
    if is_sequence(data):
        items = _items(data)
        if dim >= len(shape):
            raise ValueError(f"tensor(): expected a number at dim {dim} (got a {type(data).__name__} of "
                             f"length {len(items)}): the data is not rectangular")
        if len(items) != shape[dim]:
            raise ValueError(f"expected sequence of length {shape[dim]} at dim {dim} (got {len(items)})")
        if dim == len(shape) - 1:
            types = set(map(type, items))
            if types.issubset(_PY_KIND):  # the common case: a row of Python numbers
                kinds.update(_PY_KIND[t] for t in types)
                return items
        return [_walk(d, dim + 1, shape, kinds) for d in items]
    if isinstance(data, np.ndarray):
        if list(data.shape) != shape[dim:]:
            raise ValueError(f"expected sequence of length {shape[dim] if dim < len(shape) else 'none'} at "
                             f"dim {dim} (got a NumPy array of shape {list(data.shape)})")
        kinds.add(data.dtype)
        return data
    if dim != len(shape):
        raise ValueError(f"expected sequence of length {shape[dim]} at dim {dim} "
                         f"(got {type(data).__name__})")
    return _number(data, kinds)


def _number(x, kinds):
    if isinstance(x, Tensor):
        if x._data.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars (got a tensor of "
                             f"shape {list(x.shape)}; use torch.stack to join tensors)")
        kinds.add(x._data.dtype)
        return x.item()
    if isinstance(x, np.generic):  # before float and int: np.float64 is a float, np.bool_ is not a bool
        if isinstance(x, (np.str_, np.bytes_)):
            raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
        kinds.add(x.dtype)
        return x
    kind = _PY_KIND.get(type(x)) or next((k for t, k in _PY_KIND.items() if isinstance(x, t)), None)
    if kind is not None:
        kinds.add(kind)
        return x
    if isinstance(x, complex):
        raise TypeError(f"tensor(): complex numbers are not supported: gpunet has no complex dtype (got {x})")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
    raise RuntimeError(f"Could not infer dtype of {type(x).__name__}: {_HINT}")


# ---- dtype inference and conversion ----------------------------------------------------------------
def _array_dtype(a, check_only_kind=False):
    """The gpunet dtype of a NumPy array's dtype, refusing the ones gpunet lacks (with check_only_kind,
    only the kinds no conversion can read: complex, strings, objects)."""
    if a.dtype.kind not in "biuf":
        raise TypeError(f"can't convert np.ndarray of type numpy.{a.dtype.type.__name__}: gpunet supports "
                        f"{', '.join(d.name for d in _dt.ALL)}")
    return None if check_only_kind else _dt.from_numpy_dtype(a.dtype)


def _infer(kinds):
    found = None
    for k in kinds:
        if isinstance(k, str):  # a Python number's kind (a NumPy dtype compares equal to some strings)
            d = {"bool": _dt.bool_, "int": _dt.int64}.get(k) or _dt.get_default_dtype()
        elif k.kind in "biuf":
            d = _dt.from_numpy_dtype(k)
        else:
            raise TypeError(f"can't convert NumPy data of type numpy.{k.type.__name__}: gpunet supports "
                            f"{', '.join(d.name for d in _dt.ALL)}")
        found = d if found is None else _promote(found, d)
    return found or _dt.get_default_dtype()  # no numbers at all ([] or [[], []]): the default float


def _promote(a, b):
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    return _dt.from_numpy_dtype(np.promote_types(a.np, b.np))


def _convert(values, kinds, target):
    """np.array of values in NumPy dtype target, range-checked for an integer target as PyTorch does."""
    if target.kind == "b" or target == np.float64:
        return np.array(values, dtype=target)
    if target.kind == "f":
        with np.errstate(over="ignore"):  # a number beyond the dtype's range becomes inf, as in PyTorch
            return np.array(values, dtype=target)
    floats = any(k == "float" if isinstance(k, str) else k.kind == "f" for k in kinds)
    try:
        wide = np.array(values, dtype=np.float64 if floats else np.int64)
    except OverflowError:
        raise ValueError("Overflow when unpacking long long: tensor() reads Python ints as int64 "
                         "(pass dtype=torch.float64 for larger numbers)") from None
    if wide.size and (floats or target != np.int64):  # int64 itself was checked by np.array
        info = np.iinfo(target)
        # integers may wrap into an unsigned dtype from as low as -max; NaN fails every comparison
        low = -int(info.max) if target.kind == "u" and not floats else info.min
        if not (low <= wide.min() and wide.max() <= info.max):
            raise RuntimeError(f"value cannot be converted to type {_dt.from_numpy_dtype(target).name} "
                               "without overflow")
    return wide if wide.dtype == target else _cast(wide, target)


def _cast(a, target):
    with np.errstate(over="ignore", invalid="ignore"):  # float -> narrower float overflows to inf
        return np.array(a, dtype=target)
