"""gpunet.save / gpunet.load: checkpoints without pickle, so loading an untrusted file never runs code.

File format (version 1; every integer little-endian)::

    offset 0   magic      8 bytes  b"GPUNETCK"
           8   version    u32      1
          12   flags      u32      0 (reserved)
          16   json_len   u64      length M of the manifest
          24   json_crc   u32      CRC-32 of the manifest bytes
          28   reserved   u32      0
          32   manifest   M bytes  UTF-8 JSON (below)
               padding    zeros up to the next multiple of 64: the data section starts there
               data       raw little-endian bytes of the blobs, each blob at a 64-byte aligned offset

The manifest is a JSON object::

    {"format": "gpunet-checkpoint", "version": 1, "data_size": <bytes in the data section>,
     "blobs":   [{"offset": o, "nbytes": n, "crc32": c}, ...],     # offsets relative to the data section
     "tensors": [{"dtype": "float32", "shape": [2, 3], "strides": [3, 1], "blob": 0, "offset": 0,
                  "device": "cpu", "requires_grad": false, "parameter": false}, ...],
     "root": <value>}

A value is a JSON null/bool/string/integer/finite float (None, bool, str, int, float), a JSON array
(list), or a tagged object {"T": tag, ...}: "tuple" {"v": [values]}; "dict" and "odict" {"items":
[[key, value], ...]} (keys are values too: int keys of optimizer state dicts and tuple keys
round-trip; "odict" may carry "meta", the `_metadata` of a state_dict); "float" {"v": "nan" | "inf" |
"-inf"}; "bytes" {"v": base64}; "dtype" {"v": "float32"}; "device" {"v": "cuda:0"}; "size" {"v":
[ints]}; "tensor" {"i": index into "tensors"} (the same Tensor object twice loads as one object);
"ndarray" {"i": index} (a NumPy array, loaded on the host).

A tensor's bytes live in a blob: tensors that share memory (tied weights, views of one buffer) are
stored once, as one blob covering the bytes they use, and load back sharing memory. `offset` is in
bytes within the blob and `strides` in elements. Parameters load back as Parameters (with their
requires_grad); plain tensors keep requires_grad too. NumPy scalars are saved as Python numbers.

Loading validates everything before allocating: the magic (a pickle, a zip/torch .pt file or random
bytes gives a clear error naming the file), the manifest's CRC and structure, every blob range
against the file size (no overlaps), every tensor's dtype (allowlist), shape and strides against its
blob, and each blob's CRC. Saving to a path writes a temporary file in the same directory and renames
it over the target (os.replace), so a failure never leaves a partial file.
"""

import base64
import io
import json
import os
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np

from gpunet import dtypes as _dt
from gpunet._storage import address, atomic_write, root_array
from gpunet.backend import CPU, Device, canonical
from gpunet.nn.parameter import Parameter
from gpunet.tensor import Size, Tensor, _make

__all__ = ["save", "load", "CheckpointError"]

MAGIC = b"GPUNETCK"
VERSION = 1
_HEADER = struct.Struct("<8sIIQII")  # magic, version, flags, json_len, json_crc, reserved
_ALIGN = 64
_MAX_DEPTH = 200
_MAX_NUMEL = 1 << 48
_DTYPES = {d.name: d for d in _dt.ALL}


class CheckpointError(RuntimeError):
    """A file that is not a valid gpunet checkpoint (truncated, corrupted or foreign)."""


def _align(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


# ---- saving -------------------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.tensors = []  # manifest entries
        self.tensor_ids = {}  # id(Tensor) -> index (the same object twice is stored once)
        self.groups = {}  # id(root array) -> [root, device, lo, hi, [(entry, lo_member)]]
        self.keep = []  # keeps encoded objects alive so their ids stay unique
        self.active = set()  # containers being encoded (cycle detection)

    def value(self, obj, where, depth=0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"gpunet.save: nesting deeper than {_MAX_DEPTH} levels at {where}")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, np.generic):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if np.isfinite(obj) else {"T": "float", "v": repr(float(obj))}
        if isinstance(obj, np.generic):  # numpy scalars become Python numbers
            if isinstance(obj, np.bool_):
                return bool(obj)
            if isinstance(obj, np.integer):
                return int(obj)
            if isinstance(obj, np.floating):
                return self.value(float(obj), where, depth)
        if isinstance(obj, Tensor):
            return {"T": "tensor", "i": self.tensor(obj, where)}
        if isinstance(obj, np.ndarray):
            return {"T": "ndarray", "i": self.array(obj, CPU, where)}
        if isinstance(obj, _dt.dtype):
            return {"T": "dtype", "v": obj.name}
        if isinstance(obj, Device):
            return {"T": "device", "v": str(obj)}
        if isinstance(obj, Size):
            return {"T": "size", "v": [int(s) for s in obj]}
        if isinstance(obj, (bytes, bytearray)):
            return {"T": "bytes", "v": base64.b64encode(bytes(obj)).decode("ascii")}
        if isinstance(obj, (list, tuple, dict)):
            if id(obj) in self.active:
                raise ValueError(f"gpunet.save: circular reference at {where}")
            self.active.add(id(obj))
            try:
                return self.container(obj, where, depth)
            finally:
                self.active.discard(id(obj))
        raise TypeError(
            f"gpunet.save: cannot save an object of type {type(obj).__module__}.{type(obj).__qualname__}"
            f" at {where}; supported: dict, OrderedDict, list, tuple, Tensor, Parameter, numpy array, "
            "int, float, bool, str, bytes, None, numpy scalars, gpunet.dtype, gpunet.device, Size"
        )

    def container(self, obj, where, depth):
        if isinstance(obj, list):
            return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"T": "tuple", "v": [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
        items = []
        for k, v in obj.items():
            if isinstance(k, (Tensor, np.ndarray, list, dict, bytes, bytearray)):
                raise TypeError(f"gpunet.save: unsupported dict key of type {type(k).__name__} at {where}")
            items.append(
                [
                    self.value(k, f"{where} (key {k!r})", depth + 1),
                    self.value(v, f"{where}[{k!r}]", depth + 1),
                ]
            )
        out = {"T": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
        meta = getattr(obj, "_metadata", None) if isinstance(obj, OrderedDict) else None
        if isinstance(meta, dict):
            out["meta"] = self.value(meta, f"{where}._metadata", depth + 1)
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
            g = self.groups.get(id(root))
            if g is None:
                g = self.groups[id(root)] = [root, device, lo, hi, []]
            g[2], g[3] = min(g[2], lo), max(g[3], hi)
            g[4].append((entry, lo))
        return len(self.tensors) - 1

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


def _serialize(obj):
    """(header+manifest+padding bytes, [host blobs], [blob offsets])."""
    if sys.byteorder != "little":
        raise NotImplementedError("gpunet.save: big-endian hosts are not supported")
    enc = _Encoder()
    try:
        root = enc.value(obj, "obj")
    except RecursionError:
        raise ValueError("gpunet.save: the object is nested too deeply") from None
    blobs, table = enc.blobs()
    pos = 0
    for entry in table:
        entry["offset"] = pos
        pos = _align(pos + entry["nbytes"])
    manifest = {
        "format": "gpunet-checkpoint",
        "version": VERSION,
        "data_size": pos,
        "blobs": table,
        "tensors": enc.tensors,
        "root": root,
    }
    text = json.dumps(manifest, separators=(",", ":"), allow_nan=False).encode("utf-8")
    head = _HEADER.pack(MAGIC, VERSION, 0, len(text), zlib.crc32(text), 0) + text
    head += b"\0" * (_align(len(head)) - len(head))
    return head, blobs, [e["offset"] for e in table], pos


def _write(f, obj):
    head, blobs, offsets, data_size = _serialize(obj)
    f.write(head)
    written = 0
    for blob, off in zip(blobs, offsets):
        if off > written:
            f.write(b"\0" * (off - written))
        f.write(memoryview(blob))
        written = off + blob.nbytes
    if data_size > written:
        f.write(b"\0" * (data_size - written))


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Save obj (nested dicts/lists/tuples of tensors, numbers, strings...) to a path or binary file.

    A path is written atomically (temp file in the same directory, then os.replace). The pickle-related
    arguments are accepted for compatibility with torch.save and ignored: gpunet never pickles.
    """
    if isinstance(f, (str, os.PathLike)):
        atomic_write(os.fspath(f), lambda fh: _write(fh, obj))
    elif hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError("gpunet.save: f must be opened in binary mode ('wb'), got a text file")
        _write(f, obj)
    else:
        raise TypeError(f"gpunet.save: f must be a path or a binary file object, got {type(f).__name__}")


# ---- loading -------------------------------------------------------------------------------------------
def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **kwargs):
    """Load an object saved by gpunet.save from a path or a binary file object.

    map_location: None (each tensor on the device it was saved from), a device or string ('cpu' loads
    CUDA tensors on a machine without a GPU), a dict {'cuda:0': 'cpu'} of saved -> target device, or
    a callable(tensor_on_cpu, saved_location) returning a Tensor (or None for the default).
    Parameters come back as Parameters, other tensors as Tensors (requires_grad kept). weights_only and
    mmap are accepted for torch.load compatibility and change nothing: loading never unpickles.
    """
    if pickle_module is not None:
        raise TypeError("gpunet.load: pickle_module is not supported: gpunet checkpoints contain no pickle")
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _Reader(fh, name, map_location, exact=True).load()
    if not hasattr(f, "read"):
        raise TypeError(f"gpunet.load: f must be a path or a binary file object, got {type(f).__name__}")
    if isinstance(f, io.TextIOBase):
        raise TypeError("gpunet.load: f must be opened in binary mode ('rb'), got a text file")
    name = getattr(f, "name", None) or f"<{type(f).__name__}>"
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return _Reader(f, str(name), map_location).load()


class _Reader:
    def __init__(self, fh, name, map_location, exact=False):
        self.fh = fh
        self.exact = exact  # a path holds exactly one checkpoint; a file object may hold more after it
        self.name = name
        self.map_location = map_location
        self.start = fh.tell()
        fh.seek(0, io.SEEK_END)
        self.size = fh.tell() - self.start
        self.blob_cache = {}
        self.device_blobs = {}
        self.built = {}

    def fail(self, reason):
        raise CheckpointError(f"gpunet.load: {self.name}: {reason}")

    def read_at(self, offset, n):
        self.fh.seek(self.start + offset)
        data = self.fh.read(n)
        if len(data) != n:
            self.fail(f"file is truncated (wanted {n} bytes at offset {offset}, got {len(data)})")
        return data

    def load(self):
        if self.size < _HEADER.size:
            head = self.read_at(0, self.size)
            self.fail(f"not a gpunet checkpoint: file is only {self.size} bytes{_foreign_hint(head)}")
        magic, version, _, json_len, json_crc, _ = _HEADER.unpack(self.read_at(0, _HEADER.size))
        if magic != MAGIC:
            self.fail(f"not a gpunet checkpoint (bad magic {magic!r}){_foreign_hint(self.read_at(0, 16))}")
        if version != VERSION:
            self.fail(
                f"unsupported checkpoint format version {version} (this gpunet reads version {VERSION})"
            )
        if json_len > self.size - _HEADER.size:
            self.fail(
                f"file is truncated or corrupted: manifest of {json_len} bytes declared, file is "
                f"{self.size} bytes"
            )
        text = self.read_at(_HEADER.size, json_len)
        if zlib.crc32(text) != json_crc:
            self.fail("manifest checksum mismatch: the file is corrupted")
        try:
            manifest = json.loads(text.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as e:
            self.fail(f"manifest is not valid JSON ({type(e).__name__}: {e})")
        if not isinstance(manifest, dict) or manifest.get("format") != "gpunet-checkpoint":
            self.fail("manifest does not describe a gpunet checkpoint")
        self.data_start = _align(_HEADER.size + json_len)
        data_size = manifest.get("data_size")
        if (
            not _is_int(data_size)
            or self.data_start + data_size > self.size
            or (self.exact and self.data_start + data_size != self.size)
        ):
            self.fail(
                f"file size {self.size} does not match the manifest (data section of {data_size!r} bytes "
                f"at offset {self.data_start}): truncated, corrupted or with trailing data"
            )
        self.blobs = self.check_blobs(manifest.get("blobs"), data_size)
        tensors = manifest.get("tensors")
        if not isinstance(tensors, list):
            self.fail("manifest 'tensors' must be a list")
        self.tensors = [self.check_tensor(i, t) for i, t in enumerate(tensors)]
        if "root" not in manifest:
            self.fail("manifest has no 'root'")
        out = self.value(manifest["root"], 0)
        self.fh.seek(self.start + self.data_start + data_size)  # a file object is left after the checkpoint
        return out

    def check_blobs(self, blobs, data_size):
        if not isinstance(blobs, list):
            self.fail("manifest 'blobs' must be a list")
        spans = []
        for i, b in enumerate(blobs):
            if not (
                isinstance(b, dict)
                and _is_int(b.get("offset"))
                and _is_int(b.get("nbytes"))
                and _is_int(b.get("crc32"))
            ):
                self.fail(f"blob {i} is malformed: {b!r:.200}")
            if b["offset"] + b["nbytes"] > data_size:
                self.fail(
                    f"blob {i} (offset {b['offset']}, {b['nbytes']} bytes) lies beyond the data section "
                    f"({data_size} bytes): truncated or corrupted"
                )
            spans.append((b["offset"], b["offset"] + b["nbytes"], i))
        spans.sort()
        for (_, end, i), (start, _, j) in zip(spans, spans[1:]):
            if start < end:
                self.fail(f"blobs {i} and {j} overlap")
        return blobs

    def check_tensor(self, i, t):
        if not isinstance(t, dict):
            self.fail(f"tensor {i} is malformed")
        dtype = _DTYPES.get(t.get("dtype")) if isinstance(t.get("dtype"), str) else None
        if dtype is None:
            self.fail(
                f"tensor {i} has unsupported dtype {t.get('dtype')!r:.50} (allowed: {', '.join(_DTYPES)})"
            )
        shape, strides = t.get("shape"), t.get("strides")
        if not (
            isinstance(shape, list)
            and isinstance(strides, list)
            and len(shape) == len(strides) <= 64
            and all(_is_int(s) for s in shape)
            and all(_is_int(s) for s in strides)
        ):
            self.fail(f"tensor {i} has an invalid shape/strides {shape!r:.100} / {strides!r:.100}")
        numel = 1
        for s in shape:
            numel *= s
        if numel > _MAX_NUMEL:
            self.fail(f"tensor {i} declares {numel} elements (shape {shape}): corrupted")
        item = dtype.itemsize
        blob, offset = t.get("blob"), t.get("offset")
        if numel:
            if not (_is_int(blob) and blob < len(self.blobs) and _is_int(offset) and offset % item == 0):
                self.fail(f"tensor {i} refers to an invalid blob/offset ({blob!r:.30}, {offset!r:.30})")
            end = offset + (sum((n - 1) * s for n, s in zip(shape, strides)) + 1) * item
            if end > self.blobs[blob]["nbytes"]:
                self.fail(
                    f"tensor {i} (shape {shape}, {dtype.name}) needs bytes [{offset}, {end}) of blob {blob} "
                    f"which has {self.blobs[blob]['nbytes']} bytes: corrupted"
                )
        device = t.get("device")
        if not isinstance(device, str) or not _valid_device(device):
            self.fail(f"tensor {i} has an invalid device {device!r:.50}")
        return dict(t, dtype=dtype, numel=numel)

    def value(self, v, depth):
        if depth > _MAX_DEPTH + 2:
            self.fail("manifest is nested too deeply")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in v]
        if not isinstance(v, dict):
            self.fail(f"unexpected manifest value {v!r:.100}")
        tag = v.get("T")
        if tag == "tuple" and isinstance(v.get("v"), list):
            return tuple(self.value(x, depth + 1) for x in v["v"])
        if tag in ("dict", "odict") and isinstance(v.get("items"), list):
            out = OrderedDict() if tag == "odict" else {}
            for item in v["items"]:
                if not (isinstance(item, list) and len(item) == 2):
                    self.fail(f"malformed dict item {item!r:.100}")
                key = self.value(item[0], depth + 1)
                try:
                    out[key] = self.value(item[1], depth + 1)
                except TypeError:
                    self.fail(f"unhashable dict key {key!r:.100}")
            if tag == "odict" and "meta" in v:
                out._metadata = self.value(v["meta"], depth + 1)
            return out
        if tag == "tensor" and _is_int(v.get("i")) and v["i"] < len(self.tensors):
            return self.tensor(v["i"])
        if tag == "ndarray" and _is_int(v.get("i")) and v["i"] < len(self.tensors):
            return np.array(self.array(v["i"], CPU))
        if tag == "float" and v.get("v") in ("nan", "inf", "-inf"):
            return float(v["v"])
        if tag == "bytes" and isinstance(v.get("v"), str):
            try:
                return base64.b64decode(v["v"], validate=True)
            except ValueError:
                self.fail("malformed bytes value")
        if tag == "dtype" and v.get("v") in _DTYPES:
            return _DTYPES[v["v"]]
        if tag == "device" and isinstance(v.get("v"), str) and _valid_device(v["v"]):
            return Device(v["v"])
        if tag == "size" and isinstance(v.get("v"), list) and all(_is_int(s) for s in v["v"]):
            return Size(v["v"])
        self.fail(f"unknown or malformed tagged value {v!r:.100}")

    def host_blob(self, i):
        blob = self.blob_cache.get(i)
        if blob is None:
            b = self.blobs[i]
            blob = np.empty(b["nbytes"], dtype=np.uint8)
            self.fh.seek(self.start + self.data_start + b["offset"])
            if self.fh.readinto(memoryview(blob)) != b["nbytes"]:
                self.fail(f"file is truncated (blob {i})")
            if zlib.crc32(memoryview(blob)) != b["crc32"]:
                self.fail(f"checksum mismatch in blob {i}: the file is corrupted")
            self.blob_cache[i] = blob
        return blob

    def array(self, i, device):
        """Tensor entry i as an array on device, sharing memory with the other views of its blob."""
        t = self.tensors[i]
        dtype = t["dtype"].np
        shape = tuple(t["shape"])
        xp = device.xp
        if not t["numel"]:
            return xp.empty(shape, dtype=dtype)
        key = (t["blob"], device)
        blob = self.device_blobs.get(key)
        if blob is None:
            blob = self.device_blobs[key] = device.backend.from_host(self.host_blob(t["blob"]))
        item = dtype.itemsize
        strides = t["strides"]
        span = sum((n - 1) * s for n, s in zip(shape, strides)) + 1
        flat = blob[t["offset"] : t["offset"] + span * item].view(dtype)
        if strides == _contiguous_strides(shape) or span == t["numel"] == 1:
            return flat.reshape(shape)
        return xp.lib.stride_tricks.as_strided(flat, shape, tuple(s * item for s in strides))

    def tensor(self, i):
        out = self.built.get(i)
        if out is not None:
            return out
        t = self.tensors[i]
        saved = t["device"]
        target, fn = self.target_device(saved)
        try:
            arr = self.array(i, target)
        except RuntimeError as e:
            self.fail(
                f"cannot place a tensor saved on {saved} on {target}: {e}. Pass map_location='cpu' to load "
                "it on the CPU"
            )
        out = _make(arr, target)
        if fn is not None:
            mapped = fn(out, saved)
            out = out if mapped is None else mapped
        if t.get("requires_grad") and out.is_floating_point():
            out.requires_grad_(True)
        if t.get("parameter"):
            out = Parameter(out, requires_grad=bool(t.get("requires_grad")))
        self.built[i] = out
        return out

    def target_device(self, saved):
        m = self.map_location
        if m is None:
            return canonical(saved), None
        if callable(m) and not isinstance(m, (str, Device)):
            return CPU, m
        if isinstance(m, dict):
            for key in (saved, saved.split(":")[0], saved + ":0" if ":" not in saved else None):
                if key is not None and key in m:
                    return canonical(m[key]), None
            return canonical(saved), None
        return canonical(m), None


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < (1 << 63)


def _valid_device(s):
    return s == "cpu" or s == "cuda" or (s.startswith("cuda:") and s[5:].isdigit() and len(s) < 12)


def _contiguous_strides(shape):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return strides[::-1]


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _foreign_hint(head):
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return (
            "; it looks like a pickle file, which gpunet never loads (pickle can run arbitrary code); "
            "convert it with PyTorch to a state dict of tensors saved with safetensors"
        )
    if head[:4] == b"PK\x03\x04":
        return (
            "; it looks like a zip archive such as a torch.save .pt file, which gpunet does not load "
            "(it holds a pickle); re-save the tensors with safetensors and use "
            "gpunet.nn.utils.load_safetensors"
        )
    if head[:8] and head[8:9] == b"{":
        return "; it looks like a safetensors file: use gpunet.nn.utils.load_safetensors"
    return ""
