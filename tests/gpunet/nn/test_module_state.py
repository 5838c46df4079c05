"""nn.Module state: state_dict, load_state_dict (strict, assign, casts, messages, hooks), extra state."""
from collections import OrderedDict

import numpy as np
import pytest

import gpunet
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter
from tests.gpunet.nn.toy_modules import Linear, Net, Norm


# ---- state_dict ----------------------------------------------------------------------------------
def test_state_dict_contents():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == [
        "fc.weight",
        "fc.bias",
        "norm.weight",
        "norm.running_mean",
        "norm.num_batches_tracked",
        "head.weight",
        "head.bias",
    ]  # non-persistent buffer excluded
    assert all(type(v) is gpunet.Tensor and not v.requires_grad for v in sd.values())
    assert sd["fc.weight"].data_ptr() == net.fc.weight.data_ptr()  # detached, not copied
    kv = net.state_dict(keep_vars=True)
    assert kv["fc.weight"] is net.fc.weight
    assert sd._metadata[""] == {"version": 1} and "fc" in sd._metadata
    prefixed = net.fc.state_dict(prefix="enc.")
    assert list(prefixed) == ["enc.weight", "enc.bias"]
    dest = OrderedDict()
    assert net.fc.state_dict(destination=dest) is dest


def test_load_state_dict_roundtrip_in_place(device):
    src, dst = Net().to(device), Net().to(device)
    w = dst.fc.weight
    ptr = w.data_ptr()
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert dst.fc.weight is w and w.data_ptr() == ptr  # copied into the existing storage
    for (n, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert np.array_equal(a.cpu().numpy(), b.cpu().numpy()), n
    x = gpunet.randn(5, 2, device=device)
    assert np.allclose(src(x).detach().cpu().numpy(), dst(x).detach().cpu().numpy())


def test_load_state_dict_casts_dtype_and_device(device):
    net = Linear(2, 3).to(device)
    sd = {"weight": gpunet.ones(3, 2, dtype=gpunet.float64), "bias": gpunet.tensor([1, 2, 3])}  # cpu
    w = net.weight
    net.load_state_dict(sd)
    assert net.weight is w and w.dtype == gpunet.float32 and w.device.type == device
    assert w.sum().item() == 6
    assert net.bias.tolist() == [1, 2, 3] and net.bias.dtype == gpunet.float32
    net.to("cpu")
    if gpunet.cuda.is_available():
        net.load_state_dict(
            {"weight": gpunet.zeros(3, 2, device="cuda"), "bias": gpunet.zeros(3, device="cuda")}
        )
        assert w.device.type == "cpu" and not w.detach().numpy().any()


def test_load_state_dict_errors_and_non_strict():
    net = Net()
    sd = net.state_dict()
    sd["fc.weight"] = gpunet.zeros(4, 2)
    sd["extra"] = gpunet.zeros(1)
    sd["fc.extra"] = gpunet.zeros(1)
    del sd["fc.bias"]
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    assert str(e.value) == (
        'Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: "fc.bias". \n\t'
        'Unexpected key(s) in state_dict: "extra", "fc.extra". \n\t'
        "size mismatch for fc.weight: copying a param with shape gpunet.Size([4, 2]) from checkpoint, "
        "the shape in current model is gpunet.Size([3, 2])."
    )
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight"):
        net.load_state_dict(sd, strict=False)  # shape mismatches raise even when not strict
    sd["fc.weight"] = gpunet.full((3, 2), 7.0)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["extra", "fc.extra"]
    assert (
        repr(result) == "_IncompatibleKeys(missing_keys=['fc.bias'], unexpected_keys=['extra', 'fc.extra'])"
    )
    assert (net.fc.weight.detach().numpy() == 7).all()
    sd["fc.weight"] = 3
    with pytest.raises(
        RuntimeError, match='While copying the parameter named "fc.weight", expected torch.Tensor'
    ):
        net.load_state_dict(sd, strict=False)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got <class 'list'>."):
        net.load_state_dict([1])


def test_load_state_dict_messages_match_torch():
    torch = pytest.importorskip("torch")

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 3)

    class Net(Module):  # same class name as torch's on purpose
        def __init__(self):
            super().__init__()
            self.fc = Linear(2, 3)

    def broken(sd, mk):
        sd = dict(sd)
        sd["fc.weight"] = mk(4, 2)
        sd["zz"] = mk(1)
        del sd["fc.bias"]
        return sd

    with pytest.raises(RuntimeError) as theirs:
        TNet().load_state_dict(broken(TNet().state_dict(), torch.zeros))
    with pytest.raises(RuntimeError) as ours:
        Net().load_state_dict(broken(Net().state_dict(), gpunet.zeros))
    assert str(ours.value).replace("gpunet.Size", "torch.Size").replace("Net:", "TNet:") == str(theirs.value)


def test_load_state_dict_assign_and_scalar_compat():
    net = Norm(2)
    new_w = gpunet.tensor([5.0, 6.0])
    net.load_state_dict(
        {"weight": new_w, "running_mean": gpunet.zeros(2), "num_batches_tracked": gpunet.tensor([4])},
        assign=True,
    )
    assert isinstance(net.weight, Parameter) and net.weight.requires_grad
    assert net.weight.data_ptr() == new_w.data_ptr()
    assert net.num_batches_tracked.shape == () and net.num_batches_tracked.item() == 4


def test_load_state_dict_hooks_and_subclass_override():
    class Legacy(Norm):
        _version = 2

        def _load_from_state_dict(
            self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
        ):
            # BatchNorm-style: old checkpoints lack num_batches_tracked
            key = prefix + "num_batches_tracked"
            if local_metadata.get("version", None) is None and key not in state_dict:
                state_dict[key] = gpunet.tensor(0)
            super()._load_from_state_dict(
                state_dict, prefix, local_metadata, strict, missing, unexpected, errors
            )

    m = Module()
    m.bn = Legacy(2)
    sd = m.state_dict()
    assert sd._metadata["bn"] == {"version": 2}
    old = OrderedDict((k, v) for k, v in sd.items() if "num_batches" not in k)  # no _metadata: version None
    assert m.load_state_dict(old).missing_keys == []
    calls = []
    h = m.register_load_state_dict_post_hook(lambda mod, keys: calls.append(list(keys.missing_keys)))
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: calls.append(("pre", prefix)))
    m.load_state_dict(old, strict=False)
    h.remove()
    m.load_state_dict(old, strict=False)
    m.state_dict()
    assert calls == [[], ("pre", "")]


def test_extra_state():
    class WithExtra(Module):
        def __init__(self):
            super().__init__()
            self.note = {"steps": 1}

        def get_extra_state(self):
            return dict(self.note)

        def set_extra_state(self, state):
            self.note = state

    m = Module()
    m.x = WithExtra()
    sd = m.state_dict()
    assert sd["x._extra_state"] == {"steps": 1}
    m2 = Module()
    m2.x = WithExtra()
    m2.load_state_dict({"x._extra_state": {"steps": 9}})
    assert m2.x.note == {"steps": 9}
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "x._extra_state"'):
        m2.load_state_dict({})
