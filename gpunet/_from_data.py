"""tensor(data): a new Tensor copied from Python data (numbers, nested lists, arrays, Tensors).

It sits beside Tensor, below autograd and ops, because autograd needs it too (a gradient given as
a list, `autograd.Variable`); `gpunet.tensor` is this function, re-exported by ops.creation.
"""
import numpy as np

from gpunet import dtypes as _dt
from gpunet.backend import CPU, canonical
from gpunet.tensor import Tensor, _make


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Copy data (nested lists, numbers, arrays, tensors) into a new tensor."""
    dev = canonical(device) if device is not None else (data._device if isinstance(data, Tensor) else CPU)
    np_dtype = _infer_np_dtype(data, dtype)
    if isinstance(data, Tensor):
        np_dtype = np_dtype or data._data.dtype
    host = _to_host_array(data, np_dtype)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): can't convert data of NumPy dtype {host.dtype} to a gpunet tensor")
    _dt.from_numpy_dtype(host.dtype)
    t = _make(dev.backend.from_host(host) if dev is not CPU else host, dev)
    return t.requires_grad_(True) if requires_grad else t


def _infer_np_dtype(data, dtype):
    if dtype is not None:
        return _dt.to_dtype(dtype).np
    if isinstance(data, (np.ndarray, np.generic)):
        if data.dtype.kind == "f" and data.dtype not in (np.float16, np.float32, np.float64):
            return np.float64
        return None
    kinds = _scan_kinds(data)
    if "f" in kinds:
        return _dt.get_default_dtype().np
    if "i" in kinds:
        return np.int64
    if "b" in kinds:
        return np.bool_
    return _dt.get_default_dtype().np  # empty list: default float dtype, as PyTorch


def _scan_kinds(data, kinds=None):
    kinds = set() if kinds is None else kinds
    if isinstance(data, bool) or isinstance(data, np.bool_):
        kinds.add("b")
    elif isinstance(data, (int, np.integer)):
        kinds.add("i")
    elif isinstance(data, (float, np.floating)):
        kinds.add("f")
    elif isinstance(data, Tensor):
        kinds.add({"f": "f", "b": "b"}.get(data._data.dtype.kind, "i"))
    elif isinstance(data, np.ndarray):
        kinds.add({"f": "f", "b": "b"}.get(data.dtype.kind, "i"))
    elif isinstance(data, (list, tuple)):
        for d in data:
            _scan_kinds(d, kinds)
    else:
        raise TypeError(f"tensor(): could not infer dtype of {type(data).__name__}")
    return kinds


def _to_host_array(data, np_dtype):
    if isinstance(data, Tensor):
        return np.array(data.detach()._host(), dtype=np_dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flatten_once(data)):
        data = _tensors_to_lists(data)
    try:
        return np.array(data, dtype=np_dtype)
    except ValueError as exc:
        raise ValueError(f"tensor(): could not build a tensor from the data ({exc})") from None


def _flatten_once(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flatten_once(d)
        else:
            yield d


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(d) for d in data]
    return data
