"""Compatibility: files written before pickling existed still load (and are still what gpunet writes for
pure data), and the weights_only model behaves as PyTorch's where PyTorch is installed.

gpunet checkpoints are not torch.load files and torch.save files are not gpunet checkpoints (a clear
error either way); the parity tests compare behaviour, not bytes.
"""

import importlib.util
import io
import math
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import gpunet
from gpunet.nn.parameter import Parameter

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FIXTURE = os.path.join(DATA, "checkpoint_v1.gpunet")  # written by main at 61086ff (format version 1)


def _fixture_module():
    path = os.path.join(DATA, "make_checkpoint_v1.py")
    spec = importlib.util.spec_from_file_location("make_checkpoint_v1", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kwargs", [{}, {"weights_only": True}, {"weights_only": False}])
def test_version1_file_written_by_main_loads(kwargs):
    with open(FIXTURE, "rb") as f:
        assert f.read(12) == b"GPUNETCK\x01\x00\x00\x00"
    out = gpunet.load(FIXTURE, map_location="cpu", **kwargs)
    sd = out["model"]
    assert type(sd) is OrderedDict and list(sd) == ["0.weight", "0.bias", "bn.num_batches_tracked"]
    assert sd._metadata == OrderedDict([("", {"version": 1}), ("0", {"version": 1})])
    assert type(sd["0.weight"]) is Parameter and sd["0.weight"] is out["tied"]
    assert sd["0.weight"].tolist() == [[0, 1, 2], [3, 4, 5]] and sd["0.bias"].tolist() == [0.5, -0.5]
    assert sd["bn.num_batches_tracked"].dtype == gpunet.int64 and sd["bn.num_batches_tracked"].item() == 7
    a, b, t = out["views"]
    assert a.dtype == gpunet.float64 and t.tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert not t.is_contiguous()
    with gpunet.no_grad():
        a[3] = 30.0
    assert b[0, 1].item() == 30.0 and t[3, 0].item() == 30.0  # the views still share memory
    assert out["optimizer"]["state"][0]["exp_avg"].tolist() == [0.25, 0.25]
    assert out["optimizer"]["param_groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]
    assert (out["epoch"], out["name"], out["blob"], out["none"]) == (3, "run-1", b"\x00\x01", None)
    assert math.isinf(out["loss"]) and out["dtype"] is gpunet.float16 and out["size"] == gpunet.Size([2, 3])
    assert out["device"] == gpunet.device("cuda:0") and out["mask"].tolist() == [True, False]
    assert out["gpu"].device.type == "cpu" and out["gpu"].tolist() == [1.5, 2.5]
    assert type(out["np"]) is np.ndarray and out["np"].dtype == np.int32


def test_version1_file_keeps_its_devices():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    out = gpunet.load(FIXTURE)
    assert out["gpu"].device.type == "cuda" and out["model"]["0.weight"].device.type == "cpu"


def test_pure_data_is_still_written_as_version1_byte_for_byte():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available (the fixture holds a cuda tensor)")
    buf = io.BytesIO()
    gpunet.save(_fixture_module().fixture_object(gpunet), buf)
    with open(FIXTURE, "rb") as f:
        assert buf.getvalue() == f.read()


# ---- parity with PyTorch ---------------------------------------------------------------------------
class Point:
    def __init__(self, x):
        self.x = x


def _both():
    torch = pytest.importorskip("torch")
    return [torch, gpunet]


def _save(lib, obj):
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return buf


def test_whole_module_weights_only_parity():
    for lib in _both():
        model = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU())
        with pytest.raises(pickle.UnpicklingError, match="Sequential"):
            lib.load(_save(lib, model))
        with pytest.raises(pickle.UnpicklingError, match="Sequential"):
            lib.load(_save(lib, model), weights_only=True)
        loaded = lib.load(_save(lib, model), weights_only=False)
        assert type(loaded) is type(model) and type(loaded[0].weight) is lib.nn.Parameter
        with lib.serialization.safe_globals([lib.nn.Sequential, lib.nn.Linear, lib.nn.ReLU]):
            assert type(lib.load(_save(lib, model))[0]) is lib.nn.Linear
        state = lib.load(_save(lib, model.state_dict()))
        assert type(state) is OrderedDict and list(state) == ["0.weight", "0.bias"]


def test_safe_globals_registry_parity():
    for lib in _both():
        ser = lib.serialization
        before = set(ser.get_safe_globals())
        try:
            with ser.safe_globals([Point]):
                assert Point in ser.get_safe_globals()
                assert lib.load(_save(lib, {"p": Point(lib.ones(1))}))["p"].x.tolist() == [1.0]
            assert Point not in ser.get_safe_globals()
            ser.add_safe_globals([Point])
            with ser.safe_globals([Point]):
                pass
            assert Point not in ser.get_safe_globals()  # leaving removes it even when added before
            with pytest.raises(pickle.UnpicklingError, match="Point"):
                lib.load(_save(lib, Point(1)))
            assert lib.load(_save(lib, {"s": {1, 2}, "c": 1j, "b": bytearray(b"x")})) == {
                "s": {1, 2}, "c": 1j, "b": bytearray(b"x")}
        finally:
            ser.clear_safe_globals()
            ser.add_safe_globals(list(before))


def test_files_are_not_interchangeable():
    torch = pytest.importorskip("torch")
    data = _save(gpunet, gpunet.nn.Linear(2, 2)).getvalue()
    with pytest.raises(Exception):  # noqa: B017 - whatever torch raises for a foreign file
        torch.load(io.BytesIO(data), weights_only=False)
    with pytest.raises(gpunet.serialization.CheckpointError, match="torch.save"):
        gpunet.load(_save(torch, torch.nn.Linear(2, 2)), weights_only=False)
