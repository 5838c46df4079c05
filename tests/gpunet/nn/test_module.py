"""nn.Module: registration and its errors, traversal, state_dict/load_state_dict, hooks, modes, to(), repr."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import gpunet
from gpunet import nn
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter


class Linear(Module):
    """A test-local Linear built from Parameters (independent of gpunet.nn.Linear)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(gpunet.randn(out_features, in_features) * 0.5)
        if bias:
            self.bias = Parameter(gpunet.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        y = x @ self.weight.t()
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Norm(Module):
    """Has a float buffer, an int buffer and a non-persistent buffer."""

    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(gpunet.ones(n))
        self.register_buffer("running_mean", gpunet.zeros(n))
        self.register_buffer("num_batches_tracked", gpunet.tensor(0))
        self.register_buffer("scratch", gpunet.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.weight - self.running_mean


class Net(Module):
    def __init__(self):
        super().__init__()
        self.fc = Linear(2, 3)
        self.norm = Norm(3)
        self.head = Linear(3, 1)

    def forward(self, x):
        return self.head(self.norm(self.fc(x)).relu())


# ---- Parameter -----------------------------------------------------------------------------------
def test_parameter_basics():
    t = gpunet.randn(2, 3)
    p = Parameter(t)
    assert isinstance(p, gpunet.Tensor) and isinstance(p, Parameter)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p.data_ptr() == t.data_ptr()  # shares the storage
    assert (
        type(p.data) is gpunet.Tensor and type(p * 2) is gpunet.Tensor and type(p.detach()) is gpunet.Tensor
    )
    assert repr(p).startswith("Parameter containing:\ntensor([[") and repr(p).endswith("requires_grad=True)")
    assert (
        repr(Parameter(gpunet.tensor([1, 2]), requires_grad=False)) == "Parameter containing:\ntensor([1, 2])"
    )
    assert Parameter().shape == (0,)
    nonleaf = gpunet.ones(2, requires_grad=True) * 2
    q = Parameter(nonleaf)
    assert q.is_leaf and q.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        Parameter(gpunet.zeros(2, dtype=gpunet.int64))
    with pytest.raises(TypeError, match="must be a Tensor"):
        Parameter([1.0, 2.0])


def test_parameter_deepcopy_and_grad(device):
    p = Parameter(gpunet.randn(3, device=device))
    (p * p).sum().backward()
    p.tag = "decoder"
    q = copy.deepcopy(p)
    assert type(q) is Parameter and q is not p and q.requires_grad and q.tag == "decoder"
    assert q.device.type == device and q.grad.device.type == device
    assert np.array_equal(q.detach().cpu().numpy(), p.detach().cpu().numpy()) and q.data_ptr() != p.data_ptr()
    assert np.array_equal(q.grad.cpu().numpy(), p.grad.cpu().numpy())
    assert type(Parameter._from_tensor(gpunet.zeros(2))) is Parameter


# ---- registration --------------------------------------------------------------------------------
def test_registration_by_assignment():
    m = Module()
    m.w = Parameter(gpunet.zeros(2))
    m.child = Linear(1, 1)
    m.register_buffer("buf", gpunet.ones(1))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"] and list(m._buffers) == ["buf"]
    assert "w" not in m.__dict__ and m.plain == 3 and m.w is m._parameters["w"]
    m.w = None  # a registered parameter may be set to None
    assert m._parameters["w"] is None and m.w is None
    m.buf = gpunet.zeros(3)
    assert m._buffers["buf"].shape == (3,)
    # reassigning a name to another kind moves it
    m.plain = Parameter(gpunet.zeros(1))
    assert "plain" in m._parameters and "plain" not in m.__dict__
    del m.plain
    assert "plain" not in m._parameters
    del m.child
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'child'"):
        _ = m.child


def _msg(text):
    import re

    return re.escape(text)


def test_registration_errors_before_init():
    class Bad(Module):
        def __init__(self, what):
            if what == "param":
                self.w = Parameter(gpunet.zeros(1))
            elif what == "module":
                self.c = Linear(1, 1)
            elif what == "buffer":
                self.register_buffer("b", gpunet.zeros(1))
            else:
                self.register_parameter("b", None)

    with pytest.raises(AttributeError, match=_msg("cannot assign parameters before Module.__init__() call")):
        Bad("param")
    with pytest.raises(AttributeError, match=_msg("cannot assign module before Module.__init__() call")):
        Bad("module")
    with pytest.raises(AttributeError, match=_msg("cannot assign buffer before Module.__init__() call")):
        Bad("buffer")
    with pytest.raises(AttributeError, match=_msg("cannot assign parameter before Module.__init__() call")):
        Bad("register")


@pytest.mark.parametrize(
    "fn, exc, text",
    [
        (lambda m: m.register_parameter("a.b", None), KeyError, 'parameter name can\'t contain "."'),
        (lambda m: m.register_parameter("", None), KeyError, 'parameter name can\'t be empty string ""'),
        (lambda m: m.register_parameter(1, None), TypeError, "parameter name should be a string. Got int"),
        (lambda m: m.register_parameter("x", None), KeyError, "attribute 'x' already exists"),
        (lambda m: m.register_buffer("x", None), KeyError, "attribute 'x' already exists"),
        (lambda m: m.add_module("x", None), KeyError, "attribute 'x' already exists"),
        (lambda m: m.register_buffer("a.b", None), KeyError, 'buffer name can\'t contain "."'),
        (lambda m: m.register_buffer("", None), KeyError, 'buffer name can\'t be empty string ""'),
        (lambda m: m.register_buffer(1, None), TypeError, "buffer name should be a string. Got int"),
        (lambda m: m.add_module("a.b", None), KeyError, 'module name can\'t contain ".", got: a.b'),
        (lambda m: m.add_module("", None), KeyError, 'module name can\'t be empty string ""'),
        (lambda m: m.add_module(1, None), TypeError, "module name should be a string. Got int"),
        (lambda m: m.add_module("q", 3), TypeError, "int is not a Module subclass"),
        (
            lambda m: m.register_buffer("q", 3),
            TypeError,
            "cannot assign 'int' object to buffer 'q' (torch Tensor or None required)",
        ),
        (
            lambda m: m.register_parameter("q", gpunet.zeros(2)),
            TypeError,
            "cannot assign 'torch.FloatTensor' object to parameter 'q' (torch.nn.Parameter or None required)",
        ),
        (
            lambda m: setattr(m, "w", gpunet.zeros(2)),
            TypeError,
            "cannot assign 'torch.FloatTensor' as parameter 'w' (torch.nn.Parameter or None expected)",
        ),
        (
            lambda m: setattr(m, "c", 3),
            TypeError,
            "cannot assign 'int' as child module 'c' (torch.nn.Module or None expected)",
        ),
        (lambda m: setattr(m, "bb", 3), TypeError, "cannot assign 'int' as buffer 'bb'"),
        (lambda m: m.nope, AttributeError, "'Module' object has no attribute 'nope'"),
    ],
)
def test_registration_errors(fn, exc, text):
    m = Module()
    m.x = 3
    m.w = Parameter(gpunet.zeros(2))
    m.c = Linear(1, 1)
    m.register_buffer("bb", gpunet.zeros(1))
    with pytest.raises(exc) as e:
        fn(m)
    assert text in e.value.args[0]


def test_non_leaf_parameter_rejected():
    m = Module()
    p = Parameter(gpunet.zeros(2))
    p.grad_fn = (gpunet.ones(2, requires_grad=True) * 2).grad_fn  # a Parameter that somehow has history
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'q'"):
        m.register_parameter("q", p)


def test_registration_errors_match_torch():
    torch = pytest.importorskip("torch")
    for name in ("a.b", ""):
        with pytest.raises(KeyError) as ours:
            Module().register_parameter(name, None)
        with pytest.raises(KeyError) as theirs:
            torch.nn.Module().register_parameter(name, None)
        assert str(ours.value) == str(theirs.value)
        with pytest.raises(KeyError) as ours:
            Module().add_module(name, None)
        with pytest.raises(KeyError) as theirs:
            torch.nn.Module().add_module(name, None)
        assert str(ours.value) == str(theirs.value)


# ---- traversal -----------------------------------------------------------------------------------
def test_named_parameters_dedup_shared():
    net = Module()
    net.enc = Linear(3, 3)
    net.dec = Linear(3, 3)
    net.dec.weight = net.enc.weight  # tied
    names = [n for n, _ in net.named_parameters()]
    assert names == ["enc.weight", "enc.bias", "dec.bias"]
    assert len(list(net.parameters())) == 3
    all_names = [n for n, _ in net.named_parameters(remove_duplicate=False)]
    assert all_names == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert next(net.named_parameters(prefix="model"))[0] == "model.enc.weight"
    assert list(net.named_parameters(recurse=False)) == []
    # the same child twice is visited once by named_modules/children
    net.again = net.enc
    assert [n for n, _ in net.named_modules()] == ["", "enc", "dec"]
    assert [n for n, _ in net.named_children()] == ["enc", "dec"]
    assert len(list(net.named_modules(remove_duplicate=False))) == 4
    state = net.state_dict()
    assert list(state) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias", "again.weight", "again.bias"]


def test_buffers_children_modules_get():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == [
        "norm.running_mean",
        "norm.num_batches_tracked",
        "norm.scratch",
    ]
    assert [n for n, _ in net.named_children()] == ["fc", "norm", "head"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Linear", "Norm", "Linear"]
    assert net.get_submodule("norm") is net.norm and net.get_submodule("") is net
    assert net.get_parameter("fc.weight") is net.fc.weight
    assert net.get_buffer("norm.running_mean") is net.norm.running_mean
    with pytest.raises(AttributeError, match="Linear has no attribute `zz`"):
        net.get_submodule("fc.zz")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("fc.weight")
    with pytest.raises(AttributeError, match="`running_mean` is not an nn.Parameter"):
        net.get_parameter("norm.running_mean")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("fc.weight")
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Norm", "Linear", "Net"]  # children first
    assert {"fc", "norm", "head", "forward", "training"} <= set(dir(net))


def test_missing_forward():
    with pytest.raises(
        NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'
    ):
        Module()(1)


# ---- modes and grads -----------------------------------------------------------------------------
def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.norm.train(False)
    assert net.training and not net.norm.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train(1)


def test_zero_grad_and_requires_grad(device):
    net = Net().to(device)
    net(gpunet.randn(4, 2, device=device)).sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None for g in grads.values())
    net.zero_grad(set_to_none=False)
    for n, p in net.named_parameters():
        assert p.grad is grads[n] and not p.grad.cpu().numpy().any()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


# ---- to / dtype / device -------------------------------------------------------------------------
def test_double_keeps_identity_and_casts_floats_only(device):
    net = Net().to(device)
    net(gpunet.randn(4, 2, device=device)).sum().backward()
    params = list(net.parameters())
    assert net.double() is net
    assert [p for p in net.parameters()] == params and all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.dtype == gpunet.float64 and p.grad.dtype == gpunet.float64 for p in params)
    assert net.norm.running_mean.dtype == gpunet.float64
    assert net.norm.num_batches_tracked.dtype == gpunet.int64
    net.float()
    assert all(p.dtype == gpunet.float32 for p in params)
    net.half()
    assert net.fc.weight.dtype == gpunet.float16 and net.norm.num_batches_tracked.dtype == gpunet.int64
    net.to(gpunet.float64)
    assert net.fc.weight.dtype == gpunet.float64
    net.to(dtype=gpunet.float32)
    assert net.fc.weight.dtype == gpunet.float32 and net.fc.weight is params[0]
    with pytest.raises(
        TypeError,
        match="nn.Module.to only accepts floating point or complex dtypes, but got "
        "desired dtype=gpunet.int32",
    ):
        net.to(gpunet.int32)
    net.type(gpunet.float64)  # type() casts every tensor, ints included
    assert net.norm.num_batches_tracked.dtype == gpunet.float64
    assert all(t.device.type == device for t in [*net.parameters(), *net.buffers()])


def test_to_device_keeps_parameter_identity():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    net = Net()
    net(gpunet.randn(4, 2)).sum().backward()
    params = list(net.parameters())
    grads = [p.grad for p in params]
    before = [p.detach().numpy().copy() for p in params]
    assert net.cuda() is net
    assert all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.device.type == "cuda" and p.grad.device.type == "cuda" for p in params)
    assert all(p.grad is g for p, g in zip(params, grads))
    assert net.norm.running_mean.device.type == "cuda" and net.norm.scratch.device.type == "cuda"
    out = net(gpunet.randn(4, 2, device="cuda"))
    assert out.device.type == "cuda"
    net.to("cpu")
    assert all(p.device.type == "cpu" for p in params)
    assert all(np.array_equal(p.detach().numpy(), b) for p, b in zip(params, before))
    net.to(gpunet.zeros(1, dtype=gpunet.float64, device="cuda"))
    assert net.fc.weight.device.type == "cuda" and net.fc.weight.dtype == gpunet.float64
    net.to(device="cpu", dtype=gpunet.float32, non_blocking=True)
    assert net.fc.weight.device.type == "cpu" and net.fc.weight.dtype == gpunet.float32
    net.to_empty(device="cuda")
    assert net.fc.weight.device.type == "cuda" and net.fc.weight is params[0]


def test_optimizer_built_before_move_still_updates(device):
    """The motivating case: an optimizer holding the Parameter objects keeps working after .double()."""
    net = Linear(2, 1).to(device)
    params = list(net.parameters())
    net.double()
    net(gpunet.ones(3, 2, dtype=gpunet.float64, device=device)).sum().backward()
    with gpunet.no_grad():
        for p in params:
            p -= 0.1 * p.grad
    assert net.weight is params[0] and net.weight.dtype == gpunet.float64


def test_deepcopy_module_keeps_ties():
    net = Module()
    net.a = Linear(2, 2)
    net.b = Linear(2, 2)
    net.b.weight = net.a.weight
    clone = copy.deepcopy(net)
    assert clone.a.weight is clone.b.weight and clone.a.weight is not net.a.weight
    assert type(clone.a.weight) is Parameter


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


# ---- hooks ---------------------------------------------------------------------------------------
def test_forward_pre_and_forward_hooks():
    lin = Linear(2, 2)
    x = gpunet.ones(1, 2)
    base = lin(x).detach().numpy()
    log = []
    h1 = lin.register_forward_pre_hook(lambda m, args: log.append(("pre", len(args))))
    h2 = lin.register_forward_pre_hook(lambda m, args: args[0] * 2)  # non-tuple result is wrapped
    h3 = lin.register_forward_hook(lambda m, args, out: log.append(("fwd", out.shape)))
    h4 = lin.register_forward_hook(lambda m, args, out: out + 1)
    out = lin(x).detach().numpy()
    expected = (x * 2 @ lin.weight.t() + lin.bias).detach().numpy() + 1
    assert np.allclose(out, expected)
    assert log == [("pre", 1), ("fwd", (1, 2))]
    for h in (h1, h2, h3, h4):
        h.remove()
    h4.remove()  # removing twice is harmless
    assert np.allclose(lin(x).detach().numpy(), base)
    assert not lin._forward_hooks and not lin._forward_pre_hooks


def test_hooks_kwargs_prepend_always_call():
    class M(Module):
        def forward(self, x, scale=1.0):
            if scale == 0:
                raise ValueError("boom")
            return x * scale

    m = M()
    order = []
    m.register_forward_hook(lambda mod, a, o: order.append("second"))
    m.register_forward_hook(lambda mod, a, o: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, a, kw, o: o + kw["scale"], with_kwargs=True)
    assert m(gpunet.ones(1)).item() == 6.0
    assert order == ["first", "second"]
    n = M()
    called = []
    n.register_forward_hook(lambda mod, a, o: called.append(o), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        n(gpunet.ones(1), scale=0)
    assert called == [None]


def test_full_backward_hooks(device):
    class Scale(Module):
        def forward(self, x, y):
            return x * y * 2

    m = Scale()
    log = []
    h = m.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    x = gpunet.ones(2, requires_grad=True, device=device)
    y = gpunet.full((2,), 3.0, device=device)
    m(x, y).sum().backward()
    ((gi, go),) = log
    assert gi[0].tolist() == [6.0, 6.0] and gi[1] is None and go[0].tolist() == [1.0, 1.0]
    assert gi[0].device.type == device and go[0].device.type == device
    h.remove()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 10, None))
    x.grad = None
    m(x, y).sum().backward()
    assert x.grad.tolist() == [60.0, 60.0]
    p = Scale()
    p.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0,))
    x.grad = None
    p(x, y).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    # no input requires grad: the hook still runs, with grad_input of Nones
    q = Linear(2, 1).to(device)
    seen = []
    q.register_full_backward_hook(lambda mod, gi, go: seen.append(gi))
    q(gpunet.ones(1, 2, device=device)).sum().backward()
    assert seen == [(None,)] and q.weight.grad is not None


def test_call_without_hooks_goes_straight_to_forward():
    lin = Linear(2, 2)
    assert not (lin._forward_pre_hooks or lin._forward_hooks or lin._backward_hooks)
    calls = []
    lin._call_with_hooks = lambda *a: calls.append(a)  # must not be used when no hook is registered
    lin(gpunet.ones(1, 2))
    assert calls == []


# ---- repr ----------------------------------------------------------------------------------------
def test_repr_format():
    net = Net()
    assert repr(net) == (
        "Net(\n  (fc): Linear(in_features=2, out_features=3, bias=True)\n  (norm): Norm()\n"
        "  (head): Linear(in_features=3, out_features=1, bias=True)\n)"
    )
    assert repr(Module()) == "Module()"

    class Multi(Module):
        def extra_repr(self):
            return "a=1\nb=2"

    m = Multi()
    m.sub = ReLU()
    m.add_module("nothing", None)
    assert repr(m) == "Multi(\n  a=1\n  b=2\n  (sub): ReLU()\n  (nothing): None\n)"


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn

    class Net(Module):  # shadows the module-level Net on purpose
        def __init__(self):
            super().__init__()
            self.fc = Linear(2, 3)
            self.seq = nn.Sequential(Linear(3, 3), ReLU(), nn.Sequential(Linear(3, 3, bias=False)))
            self.ml = nn.ModuleList([Linear(1, 1) for _ in range(3)] + [ReLU(), Linear(1, 1)])
            self.md = nn.ModuleDict({"a": ReLU()})
            self.empty = nn.ModuleList()

    class TNet(tn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tn.Linear(2, 3)
            self.seq = tn.Sequential(tn.Linear(3, 3), tn.ReLU(), tn.Sequential(tn.Linear(3, 3, bias=False)))
            self.ml = tn.ModuleList([tn.Linear(1, 1) for _ in range(3)] + [tn.ReLU(), tn.Linear(1, 1)])
            self.md = tn.ModuleDict({"a": tn.ReLU()})
            self.empty = tn.ModuleList()

    assert repr(Net()) == repr(TNet()).replace("TNet", "Net")
