"""State dicts in the safetensors format (readable by safetensors.torch, Hugging Face tools, ...).

    save_safetensors(state_dict, path, metadata=None, dedupe=False)
    load_safetensors(path, device='cpu') -> dict name -> Tensor

Goes through the `safetensors` package's NumPy API. safetensors cannot store tensors that share
memory: save_safetensors refuses them with a message naming the keys, or, with dedupe=True, stores
exact aliases (tied weights) once and records the dropped names in the metadata key
"gpunet.aliases", which load_safetensors uses to tie them again (other readers just see fewer keys).
"""

import json
import os

import numpy as np

from gpunet import dtypes as _dt
from gpunet._storage import address, atomic_write, root_array
from gpunet.backend import canonical
from gpunet.tensor import Tensor, _make

__all__ = ["save_safetensors", "load_safetensors"]

_ALIASES_KEY = "gpunet.aliases"


def _memory_span(t):
    """(root id, lo, hi, exact-view key) of a tensor's bytes, for sharing detection."""
    a = t._data
    root = root_array(a)
    if root is None:
        root = a
    base = address(root)
    lo = address(a) - base
    hi = lo + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0) + a.dtype.itemsize
    lo += sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    return id(root), lo, hi, (id(root), lo, a.shape, a.strides, a.dtype.str)


def _find_shared(tensors):
    """[(key, key_it_aliases_or_None, exact)] for tensors overlapping an earlier one."""
    spans, out = [], []
    for k, t in tensors.items():
        if t.numel() == 0:
            continue
        root, lo, hi, view = _memory_span(t)
        for k2, root2, lo2, hi2, view2 in spans:
            if root == root2 and lo < hi2 and lo2 < hi:
                out.append((k, k2, view == view2))
                break
        else:
            spans.append((k, root, lo, hi, view))
    return out


def save_safetensors(state_dict, path, metadata=None, dedupe=False):
    """Write a dict str -> Tensor to path (atomically) as a safetensors file; any device, stored from host."""
    import safetensors.numpy

    if not isinstance(state_dict, dict):
        raise TypeError(
            f"save_safetensors: expected a dict of name -> Tensor, got {type(state_dict).__name__}"
        )
    for k, v in state_dict.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            raise TypeError(
                f"save_safetensors: expected str -> Tensor entries, got {type(k).__name__} -> "
                f"{type(v).__name__} for key {k!r}"
            )
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise TypeError("save_safetensors: metadata must be a dict of str -> str")
    metadata = dict(metadata or {})
    tensors = dict(state_dict)
    shared = _find_shared(tensors)
    if shared:
        partial = [(a, b) for a, b, exact in shared if not exact]
        if not dedupe or partial:
            pairs = ", ".join(
                f"{a!r} with {b!r}" for a, b, _ in (shared if not dedupe else [(a, b, 0) for a, b in partial])
            )
            raise RuntimeError(
                f"save_safetensors: some tensors share memory ({pairs}); safetensors stores each "
                "tensor separately. Pass dedupe=True to store exact aliases (tied weights) once, or "
                "save clones: {k: v.clone() for k, v in state_dict.items()}"
            )
        aliases = {a: b for a, b, _ in shared}
        for a in aliases:
            del tensors[a]
        metadata[_ALIASES_KEY] = json.dumps(aliases)
    arrays = {k: np.asarray(v.detach()._host()).copy(order="C") for k, v in tensors.items()}
    data = safetensors.numpy.save(arrays, metadata=metadata or None)
    atomic_write(os.fspath(path), lambda fh: fh.write(data))


def load_safetensors(path, device="cpu"):
    """Read a safetensors file into a dict name -> Tensor on device (ties aliases saved with dedupe=True)."""
    import safetensors
    import safetensors.numpy

    name = os.fspath(path)
    dev = canonical(device)
    try:
        with safetensors.safe_open(name, framework="numpy") as f:
            metadata = f.metadata() or {}
        arrays = safetensors.numpy.load_file(name)
    except (safetensors.SafetensorError, ValueError, TypeError) as e:
        raise RuntimeError(f"load_safetensors: {name}: not a valid safetensors file ({e})") from None
    out = {}
    for k, a in arrays.items():
        if a.dtype not in _dt._FROM_NP:
            raise TypeError(
                f"load_safetensors: {name}: tensor {k!r} has dtype {a.dtype}, which gpunet does not "
                f"support (supported: {', '.join(d.name for d in _dt.ALL)})"
            )
        host = np.array(a, copy=True)  # own, writable memory (the file may be memory-mapped)
        out[k] = _make(dev.backend.from_host(host), dev)
    aliases = metadata.get(_ALIASES_KEY)
    if aliases:
        try:
            aliases = json.loads(aliases)
        except ValueError:
            aliases = {}
        for alias, target in aliases.items() if isinstance(aliases, dict) else ():
            if isinstance(alias, str) and alias not in out and target in out:
                out[alias] = out[target]
    return out
