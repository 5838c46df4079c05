"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict (names, API, keys)."""

from collections import OrderedDict

import numpy as np
import pytest

import gpunet
from gpunet import nn
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter


class Linear(Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(gpunet.randn(out_features, in_features))
        self.bias = Parameter(gpunet.randn(out_features))

    def forward(self, x):
        return x @ self.weight.t() + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias=True"


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Add(Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x + self.k

    def extra_repr(self):
        return f"k={self.k}"


def keys(m):
    return [type(c).__name__ + (f"({c.k})" if isinstance(c, Add) else "") for c in m]


# ---- Sequential ----------------------------------------------------------------------------------
def test_sequential_forward_and_names():
    seq = nn.Sequential(Add(1), Add(10), Add(100))
    assert seq(gpunet.zeros(1)).item() == 111
    assert list(seq._modules) == ["0", "1", "2"] and len(seq) == 3
    named = nn.Sequential(OrderedDict([("first", Add(1)), ("second", Add(2))]))
    assert list(named._modules) == ["first", "second"] and named.first.k == 1
    assert nn.Sequential()(gpunet.ones(1)).item() == 1  # empty Sequential is the identity


def test_sequential_indexing_and_mutation():
    seq = nn.Sequential(Add(0), Add(1), Add(2), Add(3))
    assert seq[0].k == 0 and seq[-1].k == 3 and seq[-4].k == 0
    with pytest.raises(IndexError, match="index 4 is out of range"):
        seq[4]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        seq[-5]
    sub = seq[1:3]
    assert (
        type(sub) is nn.Sequential and keys(sub) == ["Add(1)", "Add(2)"] and list(sub._modules) == ["1", "2"]
    )
    assert keys(seq[::-1]) == ["Add(3)", "Add(2)", "Add(1)", "Add(0)"]
    seq[1] = Add(11)
    seq[-1] = Add(33)
    assert keys(seq) == ["Add(0)", "Add(11)", "Add(2)", "Add(33)"]
    del seq[1]
    assert keys(seq) == ["Add(0)", "Add(2)", "Add(33)"] and list(seq._modules) == ["0", "1", "2"]
    del seq[0:2]
    assert keys(seq) == ["Add(33)"] and list(seq._modules) == ["0"]
    seq.append(Add(4)).extend([Add(5), Add(6)])
    seq.insert(0, Add(-1))
    seq.insert(-1, Add(55))
    assert keys(seq) == ["Add(-1)", "Add(33)", "Add(4)", "Add(5)", "Add(55)", "Add(6)"]
    assert list(seq._modules) == [str(i) for i in range(6)]
    with pytest.raises(IndexError, match="Index out of range: 9"):
        seq.insert(9, Add(0))
    assert seq.pop(0).k == -1 and len(seq) == 5
    both = nn.Sequential(Add(1)) + nn.Sequential(Add(2))
    assert keys(both) == ["Add(1)", "Add(2)"]
    assert len(nn.Sequential(Add(1)) * 3) == 3
    assert [m.k for m in iter(both)] == [1, 2]
    assert "0" not in dir(both)


# ---- ModuleList / ModuleDict ---------------------------------------------------------------------
def test_module_list():
    ml = nn.ModuleList([Add(0), Add(1)])
    ml.append(Add(2))
    ml.extend([Add(3)])
    ml += [Add(4)]
    ml.insert(1, Add(10))
    assert [m.k for m in ml] == [0, 10, 1, 2, 3, 4] and list(ml._modules) == [str(i) for i in range(6)]
    assert ml[-1].k == 4 and ml[1].k == 10
    assert type(ml[1:3]) is nn.ModuleList and [m.k for m in ml[1:3]] == [10, 1]
    ml[0] = Add(100)
    del ml[1]
    assert [m.k for m in ml] == [100, 1, 2, 3, 4] and list(ml._modules) == [str(i) for i in range(5)]
    del ml[::2]
    assert [m.k for m in ml] == [1, 3]
    assert ml.pop(-1).k == 3 and len(ml) == 1
    assert [m.k for m in ml + nn.ModuleList([Add(7)])] == [1, 7]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        ml[5]
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got int"):
        ml.extend(3)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        ml.append(3)
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        ml(1)


def test_module_dict():
    md = nn.ModuleDict({"a": Add(1), "b": Add(2)})
    md["c"] = Add(3)
    md.update([("d", Add(4))])
    md.update(OrderedDict(e=Add(5)))
    assert list(md.keys()) == ["a", "b", "c", "d", "e"] and list(md) == list(md.keys())
    assert [m.k for m in md.values()] == [1, 2, 3, 4, 5] and "c" in md and len(md) == 5
    assert md["b"].k == 2 and md.pop("b").k == 2 and "b" not in md
    del md["a"]
    assert [k for k, _ in md.items()] == ["c", "d", "e"]
    with pytest.raises(ValueError, match="has length 1; 2 is required"):
        md.update([("x",)])
    with pytest.raises(TypeError, match="ModuleDict.update should be called with an iterable"):
        md.update(3)
    md.clear()
    assert len(md) == 0


# ---- ParameterList / ParameterDict ---------------------------------------------------------------
def test_parameter_list():
    pl = nn.ParameterList([Parameter(gpunet.zeros(2)), gpunet.ones(3)])  # plain tensors become Parameters
    pl.append(gpunet.zeros(1, dtype=gpunet.float64))
    pl.extend([Parameter(gpunet.zeros(4))])
    assert len(pl) == 4 and all(isinstance(p, Parameter) and p.requires_grad for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    assert pl[-1].shape == (4,) and [p.shape for p in pl[1:3]] == [(3,), (1,)]
    pl[0] = gpunet.full((2,), 5.0)
    assert isinstance(pl[0], Parameter) and pl[0].detach().numpy().tolist() == [5.0, 5.0]
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable"):
        pl.extend(gpunet.zeros(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pl()
    assert repr(
        nn.ParameterList([Parameter(gpunet.zeros(2)), Parameter(gpunet.zeros(3, dtype=gpunet.float64))])
    ) == (
        "ParameterList(\n    (0): Parameter containing: [gpunet.float32 of size 2]\n"
        "    (1): Parameter containing: [gpunet.float64 of size 3]\n)"
    )
    m = Module()
    m.pl = pl
    assert list(m.state_dict()) == ["pl.0", "pl.1", "pl.2", "pl.3"]


def test_parameter_dict():
    pd = nn.ParameterDict({"a": Parameter(gpunet.zeros(2)), "b": gpunet.ones(1)})
    pd["c"] = gpunet.zeros(3)
    pd.update([("d", gpunet.zeros(4))])
    assert list(pd) == ["a", "b", "c", "d"] and isinstance(pd["b"], Parameter) and len(pd) == 4
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c", "d"]
    assert "a" in pd and pd.get("zz") is None and pd.get("a") is pd["a"]
    assert pd.pop("a").shape == (2,) and "a" not in pd and "a" not in pd._parameters
    assert pd.setdefault("e", gpunet.zeros(5)).shape == (5,)
    assert [k for k, _ in pd.items()] == ["b", "c", "d", "e"] and len(list(pd.values())) == 4
    k, _ = pd.popitem()
    assert k == "e" and list(reversed(pd)) == ["d", "c", "b"]
    both = pd | nn.ParameterDict({"z": gpunet.zeros(1)})
    assert list(both) == ["b", "c", "d", "z"] and list(pd) == ["b", "c", "d"]
    with pytest.raises(TypeError, match="is not a string"):
        pd[1] = gpunet.zeros(1)
    with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
        pd()
    pd.clear()
    assert len(pd) == 0 and not pd._parameters


# ---- against PyTorch -----------------------------------------------------------------------------
def _ours():
    m = Module()
    m.features = nn.Sequential(Linear(4, 8), ReLU(), nn.Sequential(Linear(8, 8), ReLU()))
    m.heads = nn.ModuleList([Linear(8, 2), Linear(8, 3)])
    m.named = nn.ModuleDict({"proj": Linear(8, 8)})
    m.ordered = nn.Sequential(OrderedDict([("fc", Linear(8, 8)), ("act", ReLU())]))
    m.pl = nn.ParameterList([gpunet.zeros(2)])
    m.pd = nn.ParameterDict({"scale": gpunet.ones(1)})
    return m


def _theirs(torch):
    tn = torch.nn
    m = tn.Module()
    m.features = tn.Sequential(tn.Linear(4, 8), tn.ReLU(), tn.Sequential(tn.Linear(8, 8), tn.ReLU()))
    m.heads = tn.ModuleList([tn.Linear(8, 2), tn.Linear(8, 3)])
    m.named = tn.ModuleDict({"proj": tn.Linear(8, 8)})
    m.ordered = tn.Sequential(OrderedDict([("fc", tn.Linear(8, 8)), ("act", tn.ReLU())]))
    m.pl = tn.ParameterList([torch.zeros(2)])
    m.pd = tn.ParameterDict({"scale": torch.ones(1)})
    return m


def test_state_dict_keys_and_values_match_torch(device):
    torch = pytest.importorskip("torch")
    ours, theirs = _ours().to(device), _theirs(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    # a PyTorch state dict loads into the gpunet model and gives the same outputs
    ours.load_state_dict({k: gpunet.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        want = theirs.heads[1](theirs.ordered(theirs.named["proj"](theirs.features(torch.tensor(x)))))
    got = ours.heads[1](ours.ordered(ours.named["proj"](ours.features(gpunet.tensor(x, device=device)))))
    assert got.device.type == device
    np.testing.assert_allclose(got.detach().cpu().numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_sequential_deletion_names_match_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    ours = nn.Sequential(Linear(1, 1), Linear(1, 1), Linear(1, 1))
    theirs = tn.Sequential(tn.Linear(1, 1), tn.Linear(1, 1), tn.Linear(1, 1))
    del ours[0]
    del theirs[0]
    ours.insert(1, Linear(1, 1))
    theirs.insert(1, tn.Linear(1, 1))
    ours.append(Linear(1, 1))
    theirs.append(tn.Linear(1, 1))
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_real_layers_state_dict_and_repr_match_torch(device):
    """With the library's own layers (when present): same repr, same keys, same outputs from
    torch's weights."""
    torch = pytest.importorskip("torch")
    if not all(hasattr(nn, n) for n in ("Conv2d", "BatchNorm2d", "Linear", "ReLU", "Flatten", "MaxPool2d")):
        pytest.skip("gpunet.nn layers not available yet")

    def build(m):
        return m.Sequential(
            m.Conv2d(1, 4, 3, padding=1),
            m.BatchNorm2d(4),
            m.ReLU(),
            m.MaxPool2d(2),
            m.Flatten(),
            m.Linear(4 * 4 * 4, 10),
        )

    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.to(device).load_state_dict({k: gpunet.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()
    got = ours(gpunet.tensor(x, device=device))
    assert got.device.type == device
    np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=1e-4, atol=1e-5)
