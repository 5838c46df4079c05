"""Reading a checkpoint: every range, size and checksum is validated before anything is allocated.

A version-1 file is pure data and never unpickles. A version-2 file's root is a pickle: with weights_only
(the default) it goes through the allowlist of _weights_only.py, otherwise through the standard
unpickler, which runs whatever code the file names. In both, tensors are records of the container built
here (on the device map_location chooses), handed to the unpickler by persistent id.
"""

import base64
import io
import json
import pickle
import zlib
from collections import OrderedDict

import numpy as np

from gpunet.backend import CPU, Device, canonical
from gpunet.nn.parameter import Parameter
from gpunet.serialization._format import (
    _DTYPES,
    _HEADER,
    _MAX_DEPTH,
    _MAX_NUMEL,
    MAGIC,
    VERSION,
    VERSION_PICKLE,
    CheckpointError,
    _align,
    _contiguous_strides,
    _foreign_hint,
    _is_int,
    _valid_device,
)
from gpunet.serialization._weights_only import WeightsOnlyUnpickler
from gpunet.tensor import Size, _make


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


class Reader:
    """One checkpoint read from fh's current position; `load()` returns its object."""

    def __init__(self, fh, name, map_location, exact=False, weights_only=True, pickle_module=None):
        self.fh = fh
        self.exact = exact  # a path holds exactly one checkpoint; a file object may hold more after it
        self.name = name
        self.map_location = map_location
        self.weights_only = weights_only
        self.pickle_module = pickle_module
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
        if version not in (VERSION, VERSION_PICKLE):
            self.fail(
                f"unsupported checkpoint format version {version} (this gpunet reads versions {VERSION} "
                f"and {VERSION_PICKLE})"
            )
        self.version = version
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
        if version == VERSION_PICKLE:
            out = self.unpickle(manifest["root"])
        else:
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

    def unpickle(self, root):
        """The root of a version-2 file: {"T": "pickle", "blob": b}, a pickle in a blob no tensor uses."""
        blob = root.get("blob") if isinstance(root, dict) and root.get("T") == "pickle" else None
        if not (_is_int(blob) and blob < len(self.blobs)) or any(t["blob"] == blob for t in self.tensors):
            self.fail(f"a version-{VERSION_PICKLE} checkpoint's root must be a pickle blob: {root!r:.100}")
        data = io.BytesIO(self.host_blob(blob).tobytes())
        if self.weights_only:
            unpickler = WeightsOnlyUnpickler(data, self.persistent_load, self.name)
        else:  # runs any code the file names: the caller trusts the file
            unpickler = (self.pickle_module or pickle).Unpickler(data)
            unpickler.persistent_load = self.persistent_load
        try:
            return unpickler.load()
        except EOFError:
            self.fail("the pickle ends early: the file is corrupted")

    def persistent_load(self, pid):
        """The unpickler's hook: ("tensor" | "ndarray", index) -> the object built from the tensor table."""
        if not (
            type(pid) is tuple
            and len(pid) == 2
            and pid[0] in ("tensor", "ndarray")
            and _is_int(pid[1])
            and pid[1] < len(self.tensors)
        ):
            raise pickle.UnpicklingError(f"gpunet.load: {self.name}: malformed persistent id {pid!r:.100}")
        if pid[0] == "tensor":
            return self.tensor(pid[1])
        return np.array(self.array(pid[1], CPU))

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
