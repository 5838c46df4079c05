"""gpunet.save of whole objects (a Module, an optimizer, a user's class) and gpunet.load(weights_only=False):
the pickle of format version 2, with tensors kept as records of the container."""

import copy
import io
import json
import pickle
import struct

import numpy as np
import pytest

import gpunet
import gpunet.nn as nn
from gpunet.nn.parameter import Parameter
from gpunet.serialization import _format as F


class Net(nn.Module):
    """A custom Module at module level (pickle finds classes by module and name)."""

    def __init__(self, tied=False):
        super().__init__()
        self.enc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.dec = nn.Linear(3, 4, bias=False)
        if tied:
            self.dec.weight = Parameter(self.enc.weight.detach().t().contiguous())
            self.head = nn.Linear(4, 3)
            self.head.weight = self.enc.weight  # the same Parameter in two modules
        self.register_buffer("scale", gpunet.tensor(2.0))
        self.note = {"layers": [4, 3], "act": "relu"}

    def forward(self, x):
        return self.dec(gpunet.relu(self.bn(self.enc(x)))) * self.scale


class Holder:
    """A user class holding tensors and other things."""

    def __init__(self, device):
        base = gpunet.arange(12.0, device=device)
        self.a = base[:6]
        self.b = base[4:].reshape(2, 4)  # a view of the same memory
        self.ids = gpunet.tensor([1, 2, 3], device=device)
        self.meta = {"dims": (2, 4), "names": {"x", "y"}, "array": np.arange(3.0)}


def save_bytes(obj, **kwargs):
    buf = io.BytesIO()
    gpunet.save(obj, buf, **kwargs)
    return buf.getvalue()


def load_bytes(data, **kwargs):
    return gpunet.load(io.BytesIO(data), **kwargs)


def roundtrip(obj, **kwargs):
    return load_bytes(save_bytes(obj), weights_only=False, **kwargs)


def manifest(data):
    n = F._HEADER.unpack_from(data)[3]
    return json.loads(data[F._HEADER.size : F._HEADER.size + n])


def pickle_blob(data):
    m = manifest(data)
    b = m["blobs"][m["root"]["blob"]]
    start = F._align(F._HEADER.size + F._HEADER.unpack_from(data)[3])
    return data[start + b["offset"] : start + b["offset"] + b["nbytes"]]


def train_steps(model, opt, x, y, n=3):
    losses = []
    for _ in range(n):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def assert_same_module(a, b):
    assert type(a) is type(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].device == sb[k].device and sa[k].dtype == sb[k].dtype
        np.testing.assert_array_equal(sa[k].cpu().numpy(), sb[k].cpu().numpy())


# ---- modules -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)),
    lambda: Net(),
    lambda: nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Tanh(), nn.Linear(3, 4)),
], ids=["sequential", "custom", "batchnorm"])
def test_module_roundtrip_then_training_continues(make, device):
    gpunet.manual_seed(0)
    model = make().to(device)
    x, y = gpunet.randn(8, 4, device=device), gpunet.randn(8, 4, device=device)
    train_steps(model, gpunet.optim.SGD(model.parameters(), lr=0.1), x, y, 1)  # BatchNorm buffers move
    data = save_bytes(model)
    assert struct.unpack_from("<I", data, 8)[0] == F.VERSION_PICKLE
    loaded = load_bytes(data, weights_only=False)
    assert_same_module(loaded, model)
    assert loaded.training and all(type(p) is Parameter and p.requires_grad for p in loaded.parameters())
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded(x).detach().cpu().numpy(), model(x).detach().cpu().numpy())
    model.train(), loaded.train()
    ours = train_steps(model, gpunet.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), x, y)
    theirs = train_steps(loaded, gpunet.optim.SGD(loaded.parameters(), lr=0.1, momentum=0.9), x, y)
    assert ours == theirs and ours[-1] < ours[0]
    assert_same_module(loaded, model)


def test_custom_module_attributes_and_batchnorm_buffers():
    model = Net()
    model.bn.running_mean.fill_(0.5)
    loaded = roundtrip(model)
    assert loaded.note == {"layers": [4, 3], "act": "relu"} and loaded.scale.item() == 2.0
    assert loaded.bn.num_batches_tracked.dtype == gpunet.int64
    assert loaded.bn.running_mean.tolist() == [0.5] * 3 and type(loaded.bn.running_mean) is gpunet.Tensor
    assert isinstance(loaded.enc, nn.Linear) and loaded._forward_hooks == {}
    assert "scale" in dict(loaded.named_buffers())


def test_tensors_are_not_in_the_pickle():
    model = nn.Linear(64, 64)
    data = save_bytes(model)
    blob = pickle_blob(data)
    assert len(blob) < 2000 < model.weight.numel() * 4  # the weights live in the container's blobs
    assert b"numpy" not in blob and b"cupy" not in blob
    assert len(manifest(data)["tensors"]) == 2


def test_tied_weights_stay_tied(device):
    model = Net(tied=True).to(device)
    data = save_bytes(model)
    loaded = load_bytes(data, weights_only=False)
    assert loaded.head.weight is loaded.enc.weight
    assert len(list(loaded.parameters())) == len(list(model.parameters()))
    opt = gpunet.optim.SGD(loaded.parameters(), lr=1.0)
    loaded(gpunet.randn(2, 4, device=device)).sum().backward()
    opt.step()
    assert loaded.head.weight is loaded.enc.weight
    shared = sum(1 for t in manifest(data)["tensors"] if t["parameter"] and t["shape"] == [3, 4])
    assert shared == 1  # stored once


def test_views_keep_sharing_memory(device):
    h = roundtrip(Holder(device))
    assert h.a.device.type == device and h.ids.dtype == gpunet.int64
    with gpunet.no_grad():
        h.a[5] = 100.0
    assert h.b[0, 1].item() == 100.0  # base[5] seen through both views
    assert h.meta["dims"] == (2, 4) and h.meta["names"] == {"x", "y"}
    assert type(h.meta["array"]) is np.ndarray and h.meta["array"].tolist() == [0.0, 1.0, 2.0]


def test_parameter_attributes_and_requires_grad():
    p = Parameter(gpunet.randn(3))
    p.tag = "decoder"
    frozen = Parameter(gpunet.ones(2), requires_grad=False)
    out = roundtrip({"p": p, "frozen": frozen, "again": p})
    assert type(out["p"]) is Parameter and out["p"].tag == "decoder" and out["again"] is out["p"]
    assert out["p"].requires_grad and not out["frozen"].requires_grad
    assert load_bytes(save_bytes({"p": p}))["p"].tag == "decoder"  # allowed by weights_only too


# ---- map_location --------------------------------------------------------------------------------
def test_cuda_module_loads_on_cpu():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    model = Net().to("cuda")
    data = save_bytes(model)
    assert {t["device"] for t in manifest(data)["tensors"]} == {"cuda:0"}
    for loc in ("cpu", gpunet.device("cpu"), {"cuda:0": "cpu"}, lambda t, where: t):
        loaded = load_bytes(data, weights_only=False, map_location=loc)
        assert {p.device.type for p in loaded.parameters()} == {"cpu"}
        assert {b.device.type for b in loaded.buffers()} == {"cpu"}
        assert all(type(p) is Parameter for p in loaded.parameters())
        x = gpunet.randn(2, 4)
        loaded.eval(), model.eval()
        np.testing.assert_allclose(loaded(x).detach().numpy(), model(x.cuda()).detach().cpu().numpy(),
                                   rtol=1e-6, atol=1e-6)
    back = load_bytes(save_bytes(nn.Linear(2, 2)), weights_only=False, map_location="cuda")
    assert back.weight.device.type == "cuda"


# ---- optimizers and checkpoints --------------------------------------------------------------------
@pytest.mark.parametrize("make_opt", [
    lambda ps: gpunet.optim.Adam(ps, lr=0.05),
    lambda ps: gpunet.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
], ids=["adam", "sgd"])
def test_model_and_optimizer_checkpoint_resumes_exactly(make_opt, device):
    gpunet.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)).to(device)
    opt = make_opt(model.parameters())
    x, y = gpunet.randn(8, 3, device=device), gpunet.randn(8, 1, device=device)
    train_steps(model, opt, x, y, 2)
    ck = roundtrip({"model": model, "optimizer": opt, "epoch": 2})
    m2, o2 = ck["model"], ck["optimizer"]
    assert ck["epoch"] == 2 and type(o2) is type(opt)
    assert all(p is q for p, q in zip(m2.parameters(), o2.param_groups[0]["params"]))
    assert set(map(id, o2.state)) == set(map(id, m2.parameters()))
    assert train_steps(model, opt, x, y) == train_steps(m2, o2, x, y)


# ---- pickling outside gpunet.save ------------------------------------------------------------------
def test_pickle_and_deepcopy(device):
    x = gpunet.arange(6.0, device=device).reshape(2, 3).t()
    data = pickle.dumps(x)
    assert b"GPUNETCK" in data and b"numpy" not in data  # a standalone checkpoint, not a pickled array
    y = pickle.loads(data)
    assert y.device.type == device and y.tolist() == x.tolist() and y.stride() == x.stride()
    model = Net().to(device)
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.deepcopy(roundtrip(model))):
        assert_same_module(twin, model)
        assert all(type(p) is Parameter for p in twin.parameters())
    c = copy.copy(x)  # a shallow copy shares the data
    assert c is not x and c.data_ptr() == x.data_ptr()
