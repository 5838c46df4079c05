"""nn.Module: registration and its errors, traversal, modes, to()/dtype casts, pickling, repr."""
import copy
import pickle

import numpy as np
import pytest

import gpunet
from gpunet import nn
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter
from tests.gpunet.nn.toy_modules import Linear, Net, ReLU


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


def _double_output(module, args, output):
    return output * 2


def test_pickle_keeps_hooks_and_fills_in_missing_state():
    net = Net()
    net.register_forward_hook(_double_output)  # a module-level function pickles by name, as in PyTorch
    clone = pickle.loads(pickle.dumps(net))
    x = gpunet.ones(1, 2)
    np.testing.assert_array_equal(clone(x).detach().numpy(), net(x).detach().numpy())
    assert list(clone._forward_hooks.values()) == [_double_output]
    net.register_forward_hook(lambda m, a, o: o)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a lambda does not pickle (nor in PyTorch)
        pickle.dumps(net)
    old = Module()
    for name in ("_forward_hooks_always_called", "_backward_pre_hooks", "training"):
        del old.__dict__[name]  # a module pickled before these existed
    old.fc = Linear(1, 1)
    new = Module.__new__(Module)
    new.__setstate__(dict(old.__dict__))
    assert new._forward_hooks_always_called == {} and new._backward_pre_hooks == {} and new.training
    assert new.fc is old.fc and dict(new.named_parameters()).keys() == {"fc.weight", "fc.bias"}



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
