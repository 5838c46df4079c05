"""gpunet.save / gpunet.load of pure-data checkpoints (format version 1): round trips, devices, sharing,
files, atomic writes, hostile inputs."""

import io
import json
import math
import os
import pickle
import struct
import threading
import zlib
from collections import OrderedDict, defaultdict

import numpy as np
import pytest

import gpunet
from gpunet import serialization as S
from gpunet.serialization import _format as F
from gpunet.nn.parameter import Parameter


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    return request.param


def roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    gpunet.save(obj, buf)
    buf.seek(0)
    return gpunet.load(buf, **load_kwargs)


def same_tensor(a, b):
    assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and a.device == b.device
    assert a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())


# ---- round trips ---------------------------------------------------------------------------------
def test_nested_structures_roundtrip_exactly():
    od = OrderedDict([("z", 1), ("a", 2)])
    od._metadata = OrderedDict([("", {"version": 1})])
    obj = {
        "ints": [0, -1, 2**70, True, False],
        "floats": (0.1, -0.0, 1e300, math.inf, -math.inf),
        "none": None,
        "str": 'héllo \u2603 "q"\n',
        "bytes": b"\x00\xff\x10",
        "empty": ([], (), {}, ""),
        1: "int key",
        2.5: "float key",
        (1, "a"): "tuple key",
        None: "none key",
        False: "bool key",
        "od": od,
        "nested": [[1, [2, (3, {4: [5]})]]],
        "dtype": gpunet.float16,
        "device": gpunet.device("cuda:0"),
        "size": gpunet.Size([2, 3]),
        "numpy": [np.float32(1.5), np.int64(7), np.bool_(True), np.float64(2.0)],
    }
    out = roundtrip(obj)
    assert out == {**obj, "numpy": [1.5, 7, True, 2.0]}
    assert type(out["floats"]) is tuple and math.copysign(1, out["floats"][1]) == -1
    assert (
        type(out["od"]) is OrderedDict
        and list(out["od"]) == ["z", "a"]
        and out["od"]._metadata == od._metadata
    )
    assert [type(v) for v in out["numpy"]] == [float, int, bool, float]
    assert type(out["ints"][3]) is bool and out["dtype"] is gpunet.float16
    assert type(out["size"]) is gpunet.Size and isinstance(out["device"], gpunet.device)
    assert math.isnan(roundtrip(float("nan")))
    assert roundtrip(3) == 3 and roundtrip("x") == "x" and roundtrip(None) is None


def test_optimizer_like_state_dict():
    state = {
        "state": {
            0: {"step": gpunet.tensor(3.0), "exp_avg": gpunet.randn(2, 2), "exp_avg_sq": gpunet.rand(2, 2)},
            2: {"momentum_buffer": gpunet.zeros(3)},
        },
        "param_groups": [
            {
                "lr": 1e-3,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "params": [0, 1, 2],
            }
        ],
    }
    out = roundtrip(state)
    assert list(out["state"]) == [0, 2] and out["param_groups"] == state["param_groups"]
    for k in (0, 2):
        for name, t in state["state"][k].items():
            same_tensor(out["state"][k][name], t)


@pytest.mark.parametrize(
    "dtype",
    [
        gpunet.bool,
        gpunet.uint8,
        gpunet.int8,
        gpunet.int16,
        gpunet.int32,
        gpunet.int64,
        gpunet.float16,
        gpunet.float32,
        gpunet.float64,
    ],
)
def test_every_dtype(dtype, device):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 100, (3, 4)) if dtype is not gpunet.bool else rng.integers(0, 2, (3, 4))
    base = gpunet.tensor(values, device=device).to(dtype)
    tensors = [
        base,
        base[1],
        base.t(),
        base[:, ::2],
        base[0, 0],
        gpunet.zeros(0, 3, dtype=dtype, device=device),
    ]
    out = roundtrip(tensors)
    for a, b in zip(out, tensors):
        same_tensor(a, b)
        assert a.device.type == device


def test_parameters_and_requires_grad(device):
    p = Parameter(gpunet.randn(3, device=device))
    frozen = Parameter(gpunet.randn(2, device=device), requires_grad=False)
    leaf = gpunet.ones(2, device=device, requires_grad=True)
    out = roundtrip({"p": p, "frozen": frozen, "leaf": leaf, "plain": gpunet.ones(1)})
    assert type(out["p"]) is Parameter and out["p"].requires_grad and out["p"].is_leaf
    assert type(out["frozen"]) is Parameter and not out["frozen"].requires_grad
    assert type(out["leaf"]) is gpunet.Tensor and out["leaf"].requires_grad
    same_tensor(out["p"], p)
    assert not out["plain"].requires_grad


def test_sharing_preserved():
    w = Parameter(gpunet.randn(4, 3))
    base = gpunet.arange(12.0)
    obj = {
        "enc": w.detach(),
        "dec": w.detach(),
        "p1": w,
        "p2": w,
        "v1": base[:6],
        "v2": base[4:].reshape(2, 4),
        "t": base.reshape(3, 4).t(),
        "solo": gpunet.ones(3),
    }
    buf = io.BytesIO()
    gpunet.save(obj, buf)
    manifest = _read(buf.getvalue())[1]
    assert len(manifest["blobs"]) == 3  # w, base, solo: each stored once
    assert manifest["blobs"][1]["nbytes"] == 12 * 4
    buf.seek(0)
    out = gpunet.load(buf)
    assert out["p1"] is out["p2"]  # the same object twice comes back as one object
    assert out["enc"].data_ptr() == out["dec"].data_ptr() == out["p1"].data_ptr()
    with gpunet.no_grad():
        out["v1"][5] = 100.0  # views of one buffer still alias after loading
    assert out["v2"][0, 1].item() == 100.0 and out["t"][1, 1].item() == 100.0
    for k in ("v1", "v2", "t", "solo"):
        np.testing.assert_array_equal(
            out[k].numpy()[out[k].numpy() != 100], obj[k].numpy()[out[k].numpy() != 100]
        )
    assert not out["t"].is_contiguous()


def test_view_of_large_buffer_stores_only_what_is_used():
    big = gpunet.zeros(100_000)
    buf = io.BytesIO()
    gpunet.save({"small": big[10:20]}, buf)
    assert len(buf.getvalue()) < 2000
    buf.seek(0)
    assert gpunet.load(buf)["small"].shape == (10,)


def test_model_state_dict_roundtrip(tmp_path):
    from gpunet.nn.module import Module

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(gpunet.randn(3, 2))
            self.register_buffer("count", gpunet.tensor(5))

    a, b = Net(), Net()
    gpunet.save(a.state_dict(), tmp_path / "m.ckpt")
    sd = gpunet.load(tmp_path / "m.ckpt")
    assert type(sd) is OrderedDict and sd._metadata == a.state_dict()._metadata
    b.load_state_dict(sd)
    same_tensor(b.w, a.w)
    assert b.count.item() == 5


# ---- devices and map_location --------------------------------------------------------------------
def test_map_location():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    obj = {
        "g": gpunet.arange(4.0, device="cuda"),
        "c": gpunet.ones(2),
        "p": Parameter(gpunet.ones(1, device="cuda")),
    }
    assert roundtrip(obj)["g"].device.type == "cuda"
    for loc in ("cpu", gpunet.device("cpu"), {"cuda:0": "cpu"}, {"cuda": "cpu"}):
        out = roundtrip(obj, map_location=loc)
        assert (
            out["g"].device.type == "cpu" and out["c"].device.type == "cpu" and out["p"].device.type == "cpu"
        )
        assert type(out["p"]) is Parameter and out["g"].numpy().tolist() == [0, 1, 2, 3]
    moved = roundtrip(obj, map_location="cuda")
    assert moved["c"].device.type == "cuda"
    seen = []

    def fn(t, location):
        seen.append(location)
        return t.to("cuda") if location == "cpu" else None

    out = roundtrip(obj, map_location=fn)
    assert sorted(seen) == ["cpu", "cuda:0", "cuda:0"] and out["c"].device.type == "cuda"
    assert out["g"].device.type == "cpu"


def test_cuda_checkpoint_without_cuda(monkeypatch):
    """A CUDA checkpoint loads with map_location='cpu' without CUDA; with no map_location, a clear error."""
    data = _checkpoint({"g": gpunet.ones(2)})
    header, manifest, rest = _read(data)
    manifest["tensors"][0]["device"] = "cuda:0"
    data = _write(header, manifest, rest)
    from gpunet.backend import cuda as cuda_backend

    monkeypatch.setattr(cuda_backend, "is_available", lambda: False)
    monkeypatch.setattr(cuda_backend._launch, "available", lambda: False)
    monkeypatch.setattr(gpunet.backend.CUDA0, "_backend", None)  # as on a machine that never had CUDA
    assert gpunet.load(io.BytesIO(data), map_location="cpu")["g"].device.type == "cpu"
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        gpunet.load(io.BytesIO(data))


# ---- files ---------------------------------------------------------------------------------------
def test_paths_and_file_objects(tmp_path):
    obj = {"x": gpunet.arange(3)}
    gpunet.save(obj, str(tmp_path / "a.pt"))
    gpunet.save(obj, tmp_path / "b.pt")
    with open(tmp_path / "c.pt", "wb") as f:
        f.write(b"prefix")
        gpunet.save(obj, f)
        gpunet.save({"second": 1}, f)
    for name in ("a.pt", "b.pt"):
        assert gpunet.load(tmp_path / name)["x"].tolist() == [0, 1, 2]
        assert gpunet.load(str(tmp_path / name))["x"].tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["a.pt", "b.pt", "c.pt"]  # no temp files left
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.pt").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    with open(tmp_path / "c.pt", "rb") as f:
        f.read(6)
        assert gpunet.load(f)["x"].tolist() == [0, 1, 2]  # loads from the current position
        assert gpunet.load(f) == {"second": 1}  # and stops at the end of the checkpoint

    class Stream:  # a non-seekable stream
        def __init__(self, data):
            self._b = io.BytesIO(data)

        def read(self, n=-1):
            return self._b.read(n)

        def seekable(self):
            return False

    assert gpunet.load(Stream((tmp_path / "a.pt").read_bytes()))["x"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="binary mode"):
        gpunet.save(obj, io.StringIO())
    with pytest.raises(TypeError, match="path or a binary file object"):
        gpunet.save(obj, 3)
    with pytest.raises(FileNotFoundError):
        gpunet.load(tmp_path / "missing.pt")


def test_objects_outside_pure_data_are_pickled_not_refused():
    """A set, a reference cycle, a tensor dict key, a container subclass: saved by pickling (version 2),
    where an older gpunet refused them; pure-data objects stay version 1."""
    loop = []
    loop.append(loop)
    key = gpunet.ones(1)
    for obj in ({"a": [1, {2}]}, loop, {key: 1}, OrderedDict(a=1), defaultdict(list, a=[1]), bytearray(b"x")):
        data = _checkpoint(obj)
        assert struct.unpack_from("<I", data, 8)[0] == (1 if type(obj) is OrderedDict else 2)
    assert gpunet.load(io.BytesIO(_checkpoint({"a": [1, {2}]}))) == {"a": [1, {2}]}
    out = gpunet.load(io.BytesIO(_checkpoint(loop)), weights_only=False)
    assert out[0] is out
    ((k, v),) = gpunet.load(io.BytesIO(_checkpoint({key: 1}))).items()
    assert type(k) is gpunet.Tensor and k.tolist() == [1.0] and v == 1
    dd = gpunet.load(io.BytesIO(_checkpoint(defaultdict(list, a=[1]))), weights_only=False)
    assert type(dd) is defaultdict and dd["b"] == []


def test_unpicklable_objects_name_the_place():
    with pytest.raises(pickle.PicklingError, match=r"obj\['a'\]\[1\] is a _thread.lock.*pickling failed"):
        gpunet.save({"a": [1, threading.Lock()]}, io.BytesIO())
    with pytest.raises(pickle.PicklingError, match="pickling failed"):
        gpunet.save({"f": lambda: 0}, io.BytesIO())
    with pytest.raises(ValueError, match="pickle_protocol must be 2 or higher"):
        gpunet.save({1}, io.BytesIO(), pickle_protocol=1)
    with pytest.raises(RuntimeError, match="explicit pickle_module"):
        gpunet.load(io.BytesIO(b""), pickle_module=pickle)


def test_atomic_write_keeps_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    gpunet.save({"v": 1}, path)
    good = path.read_bytes()
    with pytest.raises(pickle.PicklingError):  # fails while encoding
        gpunet.save({"v": threading.Lock()}, path)
    assert path.read_bytes() == good

    def failing_write(fh, obj, *pickle_args):
        fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(S, "_write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        gpunet.save({"v": 2}, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["ckpt.pt"]
    monkeypatch.undo()
    assert gpunet.load(path) == {"v": 1}


# ---- hostile inputs ------------------------------------------------------------------------------
def _checkpoint(obj):
    buf = io.BytesIO()
    gpunet.save(obj, buf)
    return buf.getvalue()


def _read(data):
    magic, version, flags, n, _crc, _ = F._HEADER.unpack_from(data)
    manifest = json.loads(data[F._HEADER.size : F._HEADER.size + n])
    start = F._align(F._HEADER.size + n)
    return (magic, version, flags), manifest, data[start:]


def _write(header, manifest, rest, crc=None):
    """Re-assemble a file from a (possibly tampered) manifest, with a valid checksum unless given."""
    text = json.dumps(manifest).encode()
    head = F._HEADER.pack(
        header[0], header[1], header[2], len(text), zlib.crc32(text) if crc is None else crc, 0
    )
    head += text
    return head + b"\0" * (F._align(len(head)) - len(head)) + rest


def _load_bytes(data, name="evil.pt", tmp_path=None):
    if tmp_path is not None:
        p = tmp_path / name
        p.write_bytes(data)
        return gpunet.load(p)
    return gpunet.load(io.BytesIO(data))


GOOD = {"w": gpunet.arange(6.0).reshape(2, 3), "i": gpunet.arange(3), "meta": {1: (2, 3)}}


def test_truncated_files_rejected(tmp_path):
    data = _checkpoint(GOOD)
    for cut in (0, 5, 20, 40, len(data) // 2, len(data) - 1):
        with pytest.raises(S.CheckpointError, match="evil.pt") as e:
            _load_bytes(data[:cut], tmp_path=tmp_path)
        assert (
            "truncated" in str(e.value)
            or "not a gpunet checkpoint" in str(e.value)
            or "corrupted" in str(e.value)
        )
    with pytest.raises(S.CheckpointError, match="with trailing data"):
        _load_bytes(data + b"\0" * 64, tmp_path=tmp_path)


def test_flipped_bytes_detected():
    data = bytearray(_checkpoint(GOOD))
    rest = _read(bytes(data))[2]
    for pos in (F._HEADER.size + 3, F._HEADER.size + 40):  # inside the manifest
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(S.CheckpointError, match="manifest checksum mismatch"):
            _load_bytes(bytes(bad))
    bad = bytearray(data)
    bad[len(data) - len(rest) + 4] ^= 0x40  # inside a tensor's bytes
    with pytest.raises(S.CheckpointError, match="checksum mismatch in blob"):
        _load_bytes(bytes(bad))
    bad = bytearray(data)
    bad[0] ^= 0xFF
    with pytest.raises(S.CheckpointError, match="bad magic"):
        _load_bytes(bytes(bad))


def _tampered(edit):
    header, manifest, rest = _read(_checkpoint(GOOD))
    edit(manifest)
    return _write(header, manifest, rest)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["blobs"][0].update(nbytes=2**62), "lies beyond the data section"),
        (lambda m: m["blobs"][0].update(offset=2**40), "lies beyond the data section"),
        (lambda m: m["blobs"][1].update(offset=0), "overlap"),
        (lambda m: m["blobs"][0].update(nbytes=-1), "blob 0 is malformed"),
        (lambda m: m.update(data_size=10**12), "does not match the manifest"),
        (lambda m: m["tensors"][0].update(shape=[2, -3]), "invalid shape"),
        (lambda m: m["tensors"][0].update(shape=[2**40, 2**40]), "elements"),
        (lambda m: m["tensors"][0].update(shape=[4, 3]), "needs bytes"),
        (lambda m: m["tensors"][0].update(strides=[300, 1]), "needs bytes"),
        (lambda m: m["tensors"][0].update(shape=[2, 3, 1]), "invalid shape/strides"),
        (lambda m: m["tensors"][0].update(dtype="object"), "unsupported dtype 'object'"),
        (lambda m: m["tensors"][0].update(dtype="complex128"), "unsupported dtype"),
        (lambda m: m["tensors"][0].update(offset=2), "invalid blob/offset"),
        (lambda m: m["tensors"][0].update(blob=7), "invalid blob/offset"),
        (lambda m: m["tensors"][0].update(device="tpu"), "invalid device"),
        (lambda m: m["root"].update(T="pickle"), "unknown or malformed tagged value"),
        (lambda m: m["root"]["items"][0].__setitem__(1, {"T": "tensor", "i": 99}), "unknown or malformed"),
        (lambda m: m["root"]["items"].append([[1], 2]), "unhashable dict key"),
        (lambda m: m.update(format="other"), "does not describe a gpunet checkpoint"),
        (lambda m: m.pop("root"), "no 'root'"),
    ],
)
def test_tampered_manifest_rejected(edit, message):
    with pytest.raises(S.CheckpointError, match=message):
        _load_bytes(_tampered(edit))


def test_bad_headers():
    data = _checkpoint(GOOD)
    _, manifest, rest = _read(data)
    huge = F._HEADER.pack(F.MAGIC, 1, 0, 2**63, 0, 0) + data[F._HEADER.size :]
    with pytest.raises(S.CheckpointError, match="manifest of 9223372036854775808 bytes declared"):
        _load_bytes(huge)
    with pytest.raises(S.CheckpointError, match="unsupported checkpoint format version 9"):
        _load_bytes(_write((F.MAGIC, 9, 0), manifest, rest))
    not_json = F._HEADER.pack(F.MAGIC, 1, 0, 4, zlib.crc32(b"{{{{"), 0) + b"{{{{"
    with pytest.raises(S.CheckpointError, match="not valid JSON"):
        _load_bytes(not_json + b"\0" * (F._align(len(not_json)) - len(not_json)))
    nan_json = json.dumps(
        {"format": "gpunet-checkpoint", "data_size": 0, "blobs": [], "tensors": [], "root": float("nan")}
    ).encode()
    with pytest.raises(S.CheckpointError, match="non-standard JSON constant NaN"):
        _load_bytes(
            F._HEADER.pack(F.MAGIC, 1, 0, len(nan_json), zlib.crc32(nan_json), 0) + nan_json + b"\0" * 64
        )
    deep = {"format": "gpunet-checkpoint", "data_size": 0, "blobs": [], "tensors": [], "root": []}
    node = deep["root"]
    for _ in range(F._MAX_DEPTH + 10):
        node.append([])
        node = node[0]
    text = json.dumps(deep).encode()
    head = F._HEADER.pack(F.MAGIC, 1, 0, len(text), zlib.crc32(text), 0) + text
    with pytest.raises(S.CheckpointError, match="nested too deeply"):
        _load_bytes(head + b"\0" * (F._align(len(head)) - len(head)))


def test_foreign_files_rejected(tmp_path):
    with pytest.raises(S.CheckpointError, match="empty.pt: not a gpunet checkpoint: file is only 0 bytes"):
        _load_bytes(b"", "empty.pt", tmp_path)
    rng = np.random.default_rng(0)
    for i in range(20):
        with pytest.raises(S.CheckpointError, match="not a gpunet checkpoint"):
            _load_bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes())
    with pytest.raises(S.CheckpointError, match="looks like a pickle"):
        _load_bytes(pickle.dumps({"a": 1}), "state.pkl", tmp_path)
    import safetensors.numpy

    with pytest.raises(S.CheckpointError, match="looks like a safetensors file"):
        _load_bytes(safetensors.numpy.save({"a": np.zeros(2)}), "x.safetensors", tmp_path)


class _Exploit:
    """Unpickling this creates a marker file: what a malicious checkpoint does."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_malicious_pickle_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"state_dict": _Exploit(str(marker))}, protocol=2)
    (tmp_path / "evil.pt").write_bytes(payload)
    with pytest.raises(S.CheckpointError, match="evil.pt: not a gpunet checkpoint .*looks like a pickle"):
        gpunet.load(tmp_path / "evil.pt")
    with pytest.raises(S.CheckpointError):
        gpunet.load(io.BytesIO(payload), weights_only=False)  # no flag turns pickle on
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: unpickling it does create the marker
    assert marker.exists()


def test_torch_checkpoint_rejected(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(
        S.CheckpointError,
        match="model.pt: not a gpunet checkpoint .*zip archive such as a torch.save .pt file",
    ):
        gpunet.load(tmp_path / "model.pt")


def test_format_is_documented_layout():
    data = _checkpoint({"x": gpunet.tensor([1.0, 2.0])})
    assert data[:8] == b"GPUNETCK" and struct.unpack_from("<I", data, 8)[0] == 1
    _, manifest, rest = _read(data)
    assert manifest["format"] == "gpunet-checkpoint" and manifest["data_size"] == len(rest)
    t = manifest["tensors"][0]
    assert t["dtype"] == "float32" and t["shape"] == [2] and t["strides"] == [1] and t["device"] == "cpu"
    blob = manifest["blobs"][t["blob"]]
    assert np.frombuffer(rest[blob["offset"] : blob["offset"] + blob["nbytes"]], "<f4").tolist() == [1.0, 2.0]
    assert manifest["root"] == {"T": "dict", "items": [["x", {"T": "tensor", "i": 0}]]}
