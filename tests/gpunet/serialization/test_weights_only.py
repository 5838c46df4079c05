"""gpunet.load(weights_only=True), the default: a pickled checkpoint is loaded through an allowlist and
never runs code from the file; add_safe_globals / safe_globals extend the allowlist."""

import io
import json
import os
import pickle
import zlib
from collections import Counter, OrderedDict

import pytest

import gpunet
import gpunet.nn as nn
from gpunet.nn.parameter import Parameter, _rebuild_parameter
from gpunet.serialization import _format as F
from gpunet.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


class Exploit:
    """Unpickling this creates a directory: what a malicious checkpoint does."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


class Reduced:
    """Pickles as whatever (callable, args[, state]) it is given: for hand-made hostile pickles."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


@pytest.fixture(autouse=True)
def empty_allowlist():
    clear_safe_globals()
    yield
    clear_safe_globals()


def save_bytes(obj):
    buf = io.BytesIO()
    gpunet.save(obj, buf)
    return buf.getvalue()


def load_bytes(data, **kwargs):
    return gpunet.load(io.BytesIO(data), **kwargs)


WEIGHTS_ONLY = [{}, {"weights_only": True}, {"weights_only": None}]


@pytest.mark.parametrize("kwargs", WEIGHTS_ONLY, ids=["default", "True", "None"])
def test_pickled_module_is_refused_with_advice(kwargs):
    data = save_bytes(Tiny())
    with pytest.raises(pickle.UnpicklingError) as e:
        load_bytes(data, **kwargs)
    message = str(e.value)
    assert f"refused the global {Tiny.__module__}.Tiny" in message
    assert "weights_only=False, which runs code from the file" in message
    assert "gpunet.serialization.add_safe_globals([Tiny])" in message
    assert "gpunet.serialization.safe_globals([Tiny])" in message
    assert type(load_bytes(data, weights_only=False)) is Tiny


@pytest.mark.parametrize("kwargs", WEIGHTS_ONLY, ids=["default", "True", "None"])
def test_malicious_reduce_never_runs(tmp_path, kwargs):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    gpunet.save({"state_dict": {"w": gpunet.ones(2)}, "x": Exploit(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"evil.pt: .*refused the global \w+\.mkdir"):
        gpunet.load(path, **kwargs)
    assert not marker.exists()
    gpunet.load(path, weights_only=False)  # the payload is live: trusting the file runs it
    assert marker.exists()


def test_state_dicts_and_builtin_types_load_from_a_pickle():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    p = Parameter(gpunet.ones(2))
    p.tag = "x"
    obj = {  # a set makes this a pickled checkpoint; everything in it is allowlisted
        "model": model.state_dict(),
        "tags": {"a", "b"},
        "counts": Counter("aab"),
        "z": 1 + 2j,
        "raw": (b"\x00\xff", b"", bytearray(b"ab")),
        "meta": (gpunet.float16, gpunet.device("cuda:0"), gpunet.Size([2, 3]), OrderedDict(k=1)),
        "p": p,
    }
    data = save_bytes(obj)
    assert json.loads(data[F._HEADER.size : F._HEADER.size + F._HEADER.unpack_from(data)[3]])["version"] == 2
    out = load_bytes(data)
    assert out["model"]._metadata == obj["model"]._metadata and list(out["model"]) == list(obj["model"])
    assert out["tags"] == {"a", "b"} and out["counts"] == Counter("aab") and out["z"] == 1 + 2j
    assert out["raw"] == obj["raw"] and type(out["raw"][2]) is bytearray
    assert out["meta"] == obj["meta"] and out["meta"][0] is gpunet.float16
    assert type(out["p"]) is Parameter and out["p"].tag == "x"
    nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).load_state_dict(out["model"])


def test_add_safe_globals_and_clear():
    data = save_bytes({"pt": Point(1, gpunet.ones(2))})
    with pytest.raises(pickle.UnpicklingError, match="Point"):
        load_bytes(data)
    add_safe_globals([Point])
    assert get_safe_globals() == [Point]
    out = load_bytes(data)["pt"]
    assert type(out) is Point and out.x == 1 and out.y.tolist() == [1.0, 1.0]
    clear_safe_globals()
    assert get_safe_globals() == []
    with pytest.raises(pickle.UnpicklingError, match="Point"):
        load_bytes(data)


def test_safe_globals_context_manager():
    data = save_bytes(Tiny())
    with pytest.raises(pickle.UnpicklingError, match="gpunet.nn.modules.linear.Linear"):
        with safe_globals([Tiny]):  # the Linear inside is refused
            load_bytes(data)
    with safe_globals([Tiny, nn.Linear]):
        assert set(get_safe_globals()) == {Tiny, nn.Linear}
        model = load_bytes(data)
    assert get_safe_globals() == []  # leaving the block removes them
    assert type(model.fc.weight) is Parameter and model.fc(gpunet.ones(1, 2)).shape == (1, 2)
    with pytest.raises(pickle.UnpicklingError):
        load_bytes(data)


def test_safe_globals_under_another_name():
    data = save_bytes({"pt": Point(1, 2)})
    name = f"{Point.__module__}.Point"
    with safe_globals([(Point, name)]):
        assert load_bytes(data)["pt"].y == 2
    with pytest.raises(TypeError, match="pair"):
        add_safe_globals([(Point,)])
    with pytest.raises(TypeError, match="class or function"):
        add_safe_globals(["os.system"])


# ---- hand-made hostile pickles: what an allowlisted global could be abused for ----------------------
def test_state_of_shared_objects_is_never_set():
    dtype_attack = Reduced(gpunet.dtypes._by_name, ("float32",), (None, {"name": "evil"}))
    with pytest.raises(pickle.UnpicklingError, match="refused to set the state of a gpunet.dtypes.dtype"):
        load_bytes(save_bytes([dtype_attack]))
    assert gpunet.float32.name == "float32"
    device_attack = Reduced(gpunet.device, ("cpu",), (None, {"type": "cuda"}))
    with pytest.raises(pickle.UnpicklingError, match="refused to set the state"):
        load_bytes(save_bytes([device_attack]))
    slot_attack = Reduced(_rebuild_parameter, (gpunet.ones(2), True), (None, {"_data": "x"}))
    with pytest.raises(pickle.UnpicklingError, match="refused to set the state of a gpunet.nn.parameter"):
        load_bytes(save_bytes([slot_attack]))


def test_allowlisted_functions_are_restricted():
    from codecs import encode

    with pytest.raises(pickle.UnpicklingError, match="latin1"):
        load_bytes(save_bytes([Reduced(encode, ("x", "rot13"))]))
    with pytest.raises(pickle.UnpicklingError, match=r"bytearray\(int\)"):
        load_bytes(save_bytes([Reduced(bytearray, (10**12,))]))
    with pytest.raises(pickle.UnpicklingError, match="numpy"):  # numpy scalars are not allowlisted
        import numpy as np

        load_bytes(save_bytes({"s": {np.complex64(1)}}))


def _v2_file(pickle_bytes):
    """A version-2 checkpoint whose root pickle is pickle_bytes (no tensors)."""
    manifest = {
        "format": "gpunet-checkpoint", "version": 2, "data_size": F._align(len(pickle_bytes)),
        "blobs": [{"offset": 0, "nbytes": len(pickle_bytes), "crc32": zlib.crc32(pickle_bytes)}],
        "tensors": [], "root": {"T": "pickle", "blob": 0},
    }
    text = json.dumps(manifest).encode()
    head = F._HEADER.pack(F.MAGIC, 2, 0, len(text), zlib.crc32(text), 0) + text
    head += b"\0" * (F._align(len(head)) - len(head))
    return head + pickle_bytes + b"\0" * (F._align(len(pickle_bytes)) - len(pickle_bytes))


@pytest.mark.parametrize("payload, message", [
    (b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.", "refused the global posix.system"),
    (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93.",
     "refused the global os.system"),
    (b"(cbuiltins\neval\nS'1'\ni.", "refused the global builtins.eval"),
    (b"\x80\x02X\x01\x00\x00\x00tK\x07\x86Q.", "malformed persistent id"),
    (b"\x80\x02]q\x00X\x01\x00\x00\x00tq\x01", "ends early"),
])
def test_hand_made_pickles_refused(payload, message):
    with pytest.raises((pickle.UnpicklingError, F.CheckpointError), match=message):
        load_bytes(_v2_file(payload))


def test_root_must_be_a_pickle_blob():
    data = _v2_file(pickle.dumps(1, 2))
    head = data.replace(b'"root": {"T": "pickle", "blob": 0}', b'"root": {"T": "pickle", "blob": 5}')
    n = F._HEADER.unpack_from(data)[3]
    text = head[F._HEADER.size : F._HEADER.size + n]
    bad = F._HEADER.pack(F.MAGIC, 2, 0, n, zlib.crc32(text), 0) + head[F._HEADER.size :]
    with pytest.raises(F.CheckpointError, match="root must be a pickle blob"):
        load_bytes(bad)
    assert load_bytes(data) == 1
