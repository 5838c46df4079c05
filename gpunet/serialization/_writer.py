"""Writing a checkpoint: the pure-data encoder, and the pickle fallback for everything else.

`serialize` first encodes the object as the version-1 manifest (JSON values and tagged objects). If it
meets something that encoding does not cover (a Module, an optimizer, a user class, a set, a container
subclass, a reference cycle, a tensor used as a dict key), it starts again and pickles the whole object
into one blob of a version-2 file. Either way every Tensor, Parameter and NumPy array is a record of
the tensor table, its bytes copied from its device by the backend's explicit transfer and stored once
per memory block: the pickle refers to them by persistent id and never holds array data.
"""

import base64
import io
import json
import pickle
import sys
import zlib
from collections import OrderedDict

import numpy as np

from gpunet import dtypes as _dt
from gpunet._storage import address, root_array
from gpunet.backend import CPU, Device
from gpunet.nn.parameter import Parameter
from gpunet.serialization._format import _HEADER, _MAX_DEPTH, MAGIC, VERSION, VERSION_PICKLE, _align
from gpunet.tensor import Size, Tensor

DEFAULT_PROTOCOL = 2  # torch.save's default: the pickle holds small objects only, tensors live outside it


class _NeedsPickle(Exception):
    """Raised inside the encoder: obj at `where` is outside what a pickle-free checkpoint holds."""

    def __init__(self, where, why):
        super().__init__(where, why)
        self.where, self.why = where, why


def _type_name(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


class _Encoder:
    def __init__(self):
        self.tensors = []  # manifest entries
        self.tensor_ids = {}  # id(Tensor) -> index (the same object twice is stored once)
        self.groups = {}  # (device, root address) -> [root, device, lo, hi, [(entry, lo_member)]]
        self.keep = []  # keeps encoded objects alive so their ids stay unique
        self.active = set()  # containers being encoded (cycle detection)

    def value(self, obj, where, depth=0):
        if depth > _MAX_DEPTH:
            raise _NeedsPickle(where, f"nesting deeper than {_MAX_DEPTH} levels")
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            return obj
        if t is float:
            return obj if np.isfinite(obj) else {"T": "float", "v": repr(obj)}
        if isinstance(obj, np.generic):  # numpy scalars become Python numbers
            if isinstance(obj, np.bool_):
                return bool(obj)
            if isinstance(obj, np.integer):
                return int(obj)
            if isinstance(obj, np.floating):
                return self.value(float(obj), where, depth)
            raise _NeedsPickle(where, f"a {_type_name(obj)}")
        if t is Tensor or (t is Parameter and not obj.__dict__):
            return {"T": "tensor", "i": self.tensor(obj, where)}
        if isinstance(obj, np.ndarray) and obj.dtype in _dt._FROM_NP:
            return {"T": "ndarray", "i": self.array(obj, CPU, where)}
        if t is _dt.dtype:
            return {"T": "dtype", "v": obj.name}
        if t is Device:
            return {"T": "device", "v": str(obj)}
        if t is Size:
            return {"T": "size", "v": [int(s) for s in obj]}
        if t is bytes:
            return {"T": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if t in (list, tuple, dict, OrderedDict):
            if id(obj) in self.active:
                raise _NeedsPickle(where, "a reference cycle")
            self.active.add(id(obj))
            try:
                return self.container(obj, where, depth)
            finally:
                self.active.discard(id(obj))
        if isinstance(obj, Parameter):
            raise _NeedsPickle(where, "a Parameter with attributes")
        raise _NeedsPickle(where, f"a {_type_name(obj)}")

    def container(self, obj, where, depth):
        if isinstance(obj, list):
            return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"T": "tuple", "v": [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
        items = []
        for k, v in obj.items():
            if isinstance(k, (Tensor, np.ndarray, list, dict, bytes, bytearray)):
                raise _NeedsPickle(where, f"a dict key of type {type(k).__name__}")
            items.append(
                [
                    self.value(k, f"{where} (key {k!r})", depth + 1),
                    self.value(v, f"{where}[{k!r}]", depth + 1),
                ]
            )
        out = {"T": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
        attrs = obj.__dict__ if isinstance(obj, OrderedDict) else {}
        if attrs:  # a state_dict's _metadata is the one attribute the manifest holds
            if set(attrs) != {"_metadata"} or not isinstance(attrs["_metadata"], dict):
                raise _NeedsPickle(where, f"an OrderedDict with attributes {sorted(attrs)}")
            out["meta"] = self.value(attrs["_metadata"], f"{where}._metadata", depth + 1)
        return out

    def tensor(self, t, where):
        idx = self.tensor_ids.get(id(t))
        if idx is None:
            idx = self.array(t._data, t._device, where)
            self.tensors[idx].update(requires_grad=bool(t._requires_grad), parameter=isinstance(t, Parameter))
            self.tensor_ids[id(t)] = idx
            self.keep.append(t)
        return idx

    def array(self, a, device, where):
        dtype = _dt._FROM_NP.get(a.dtype)
        if dtype is None:
            raise TypeError(f"gpunet.save: unsupported array dtype {a.dtype} at {where}")
        item = a.dtype.itemsize
        entry = {
            "dtype": dtype.name,
            "shape": [int(s) for s in a.shape],
            "device": str(device),
            "blob": None,
            "offset": 0,
            "strides": [s // item for s in a.strides],
        }
        self.tensors.append(entry)
        if a.size:
            root = root_array(a)
            if root is None or any(s < 0 or s % item for s in a.strides):
                a = a.copy(order="C")  # stored on its own (ascontiguousarray would make 0-d arrays 1-d)
                root = a
                entry["strides"] = [s // item for s in a.strides]
            lo = address(a) - address(root)
            hi = lo + sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + item
            key = (device, address(root))  # not id(root): a simulated device array's .base is a new wrapper
            g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = [root, device, lo, hi, []]
            g[2], g[3] = min(g[2], lo), max(g[3], hi)
            g[4].append((entry, lo))
        return len(self.tensors) - 1

    def persistent_id(self, obj):
        """The pickler's hook: tensors and arrays become ("tensor" | "ndarray", index into the table)."""
        t = type(obj)
        if t is Tensor or (t is Parameter and not obj.__dict__):
            return ("tensor", self.tensor(obj, "obj (pickled)"))
        if isinstance(obj, np.ndarray) and obj.dtype in _dt._FROM_NP:
            self.keep.append(obj)
            return ("ndarray", self.array(obj, CPU, "obj (pickled)"))
        return None  # a Parameter with attributes reduces to a plain tensor (persistent) and its __dict__

    def pickle(self, obj, need, pickle_module, protocol):
        """Pickle obj (tensors by persistent id); `need` says which part of obj required it."""
        buf = io.BytesIO()
        pickler = (pickle_module or pickle).Pickler(buf, protocol)
        pickler.persistent_id = self.persistent_id
        try:
            pickler.dump(obj)
        except RecursionError:
            raise ValueError("gpunet.save: the object is nested too deeply to pickle") from None
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise pickle.PicklingError(
                f"gpunet.save: the object is saved by pickling ({need.where} is {need.why}, which a "
                f"pickle-free checkpoint cannot hold), and pickling failed: {e}"
            ) from e
        return buf.getvalue()

    def blobs(self):
        """Host byte windows, one per memory group, with the manifest's blob table (offsets filled later)."""
        out, table = [], []
        for i, (root, device, lo, hi, members) in enumerate(self.groups.values()):
            window = root.reshape(-1).view(device.xp.uint8)[lo:hi]
            host = np.ascontiguousarray(device.backend.to_host(window))
            out.append(host)
            table.append({"offset": 0, "nbytes": int(host.nbytes), "crc32": zlib.crc32(memoryview(host))})
            for entry, member_lo in members:
                entry["blob"], entry["offset"] = i, member_lo - lo
        return out, table


def serialize(obj, pickle_module=None, protocol=None):
    """(header+manifest+padding bytes, [host blobs], [blob offsets], data section size)."""
    if sys.byteorder != "little":
        raise NotImplementedError("gpunet.save: big-endian hosts are not supported")
    protocol = DEFAULT_PROTOCOL if protocol is None else protocol
    if not isinstance(protocol, int) or protocol < 2:
        raise ValueError(f"gpunet.save: pickle_protocol must be 2 or higher, got {protocol!r}")
    enc = _Encoder()
    version, pickled = VERSION, None
    try:
        root = enc.value(obj, "obj")
    except RecursionError:
        raise ValueError("gpunet.save: the object is nested too deeply") from None
    except _NeedsPickle as need:
        enc = _Encoder()
        version, pickled = VERSION_PICKLE, enc.pickle(obj, need, pickle_module, protocol)
    blobs, table = enc.blobs()
    if pickled is not None:
        root = {"T": "pickle", "blob": len(table)}
        blobs.append(np.frombuffer(pickled, dtype=np.uint8))
        table.append({"offset": 0, "nbytes": len(pickled), "crc32": zlib.crc32(pickled)})
    pos = 0
    for entry in table:
        entry["offset"] = pos
        pos = _align(pos + entry["nbytes"])
    manifest = {
        "format": "gpunet-checkpoint",
        "version": version,
        "data_size": pos,
        "blobs": table,
        "tensors": enc.tensors,
        "root": root,
    }
    text = json.dumps(manifest, separators=(",", ":"), allow_nan=False).encode("utf-8")
    head = _HEADER.pack(MAGIC, version, 0, len(text), zlib.crc32(text), 0) + text
    head += b"\0" * (_align(len(head)) - len(head))
    return head, blobs, [e["offset"] for e in table], pos


def write(f, obj, pickle_module=None, protocol=None):
    head, blobs, offsets, data_size = serialize(obj, pickle_module, protocol)
    f.write(head)
    written = 0
    for blob, off in zip(blobs, offsets):
        if off > written:
            f.write(b"\0" * (off - written))
        f.write(memoryview(blob))
        written = off + blob.nbytes
    if data_size > written:
        f.write(b"\0" * (data_size - written))
