"""default_collate (a list of samples -> one batch) and default_convert (one sample, arrays -> tensors).

Same structure rules as torch.utils.data: tensors are stacked on a new dim 0; Python floats become a
float64 tensor and ints an int64 tensor; NumPy arrays and scalars become tensors of their dtype;
strings/bytes stay a list; dicts are collated per key, namedtuples per field, and other sequences are
transposed (tuples come back as lists, as in PyTorch).
"""
import copy
import re
from collections import abc

import numpy as np

from gpunet import dtypes as _dt
from gpunet.ops.creation import as_tensor, tensor
from gpunet.ops.shape import stack
from gpunet.tensor import Tensor

_NP_STR_OBJ = re.compile(r"[SaUO]")  # NumPy dtype kinds that cannot become tensors

_COLLATE_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data):
    """Turn NumPy arrays/scalars inside `data` into tensors, keeping everything else (no batching)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, (np.str_, np.bytes_)):
        if isinstance(data, np.ndarray) and _NP_STR_OBJ.search(data.dtype.str) is not None:
            return data
        return as_tensor(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(template, values):
    """A mapping of the template's type holding `values`, or a plain dict if that type can't be built."""
    if isinstance(template, abc.MutableMapping):
        clone = copy.copy(template)
        clone.update(values)
        return clone
    try:
        return type(template)(values)
    except TypeError:
        return values


def _rebuild_sequence(template, values):
    if isinstance(template, abc.MutableSequence):
        clone = copy.copy(template)
        for i, v in enumerate(values):
            clone[i] = v
        return clone
    try:
        return type(template)(values)
    except TypeError:
        return values


def default_collate(batch):
    """Merge a list of samples into a batch with a leading batch dimension (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _NP_STR_OBJ.search(elem.dtype.str) is not None:
            raise TypeError(_COLLATE_ERR.format(elem.dtype))
        return stack([as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return tensor(list(batch), dtype=_dt.bool_)
    if isinstance(elem, float):
        return tensor(list(batch), dtype=_dt.float64)
    if isinstance(elem, int):
        return tensor(list(batch))  # int64; a float later in the batch gives the default float dtype
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # tuples become lists, as in PyTorch
        return _rebuild_sequence(elem, transposed)
    raise TypeError(_COLLATE_ERR.format(type(elem)))
