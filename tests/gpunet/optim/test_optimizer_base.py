"""Optimizer's contract (PyTorch's docs): param groups and their errors, frozen vs zero-grad params,
zero_grad, state_dict layout and loading, resume equivalence, step counting and hooks. What steps or
holds state runs on cpu and cuda; group bookkeeping and hooks are device-independent and run on the cpu."""
import copy
import warnings

import numpy as np
import pytest

import gpunet
from gpunet.optim.optimizer import Optimizer, required
from tests.helpers import simulated

ALGOS = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1},
    "Adam": {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1},
    "AdamW": {"lr": 0.05},
    "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
    "Adagrad": {"lr": 0.05, "lr_decay": 0.01},
    "Adadelta": {"lr": 0.5},
    "Adamax": {"lr": 0.05},
    "NAdam": {"lr": 0.05},
    "RAdam": {"lr": 0.05},
}


def leaf(*shape, value=None, dtype=None, device="cpu"):
    if value is None:
        value = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape) / 10
    return gpunet.tensor(value, dtype=dtype or gpunet.float32, requires_grad=True, device=device)


def set_grads(params, scale=1.0):
    for i, p in enumerate(params):
        g = np.cos(np.arange(p.numel()) + i).reshape(tuple(p.shape)) * scale
        p.grad = gpunet.tensor(g, dtype=p.dtype, device=p.device)


def values(params):
    return [p.detach().cpu().numpy().copy() for p in params]


def layout(flat, device):
    """An optimizer's _flat_devices: the flat-buffer path on `device`, or the per-tensor path."""
    return {device} if flat else frozenset()


FLAT = pytest.mark.parametrize("flat", [False, True], ids=["per-tensor", "flat"])


# ---- construction and param groups ------------------------------------------------------------------------
def test_repr_and_defaults_match_torch():
    torch = pytest.importorskip("torch")
    a, b = leaf(2), leaf(3)
    ta, tb = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    ours = gpunet.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    theirs = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert repr(ours) == repr(theirs)
    assert ours.param_groups[1]["lr"] == 0.5 and ours.param_groups[0]["lr"] == 0.1
    assert ours.defaults == theirs.defaults
    assert repr(gpunet.optim.LBFGS([a])) == repr(torch.optim.LBFGS([ta]))


def test_params_forms():
    a, b = leaf(2), leaf(3)
    opt = gpunet.optim.Adam(p for p in [a, b])  # a generator is read once
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(a), id(b)]
    named = gpunet.optim.Adam([("w", a), ("b", b)])
    assert named.param_groups[0]["param_names"] == ["w", "b"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    single = gpunet.optim.SGD([{"params": a}], lr=0.1)
    assert [id(p) for p in single.param_groups[0]["params"]] == [id(a)]


@pytest.mark.parametrize("make,exc,msg", [
    (lambda a, b: gpunet.optim.SGD(a), TypeError,
     "params argument given to the optimizer should be an iterable"),
    (lambda a, b: gpunet.optim.SGD([]), ValueError, "optimizer got an empty parameter list"),
    (lambda a, b: gpunet.optim.SGD(iter([])), ValueError, "optimizer got an empty parameter list"),
    (lambda a, b: gpunet.optim.SGD([{"params": {a}}]), TypeError, "Please use a list instead"),
    (lambda a, b: gpunet.optim.SGD([a, 3]), TypeError,
     "optimizer can only optimize Tensors, but one of the params is int"),
    (lambda a, b: gpunet.optim.SGD([a * 2]), ValueError, "can't optimize a non-leaf Tensor"),
    (lambda a, b: gpunet.optim.SGD([{"params": [a]}, {"params": [a, b]}]), ValueError,
     "some parameters appear in more than one parameter group"),
    (lambda a, b: gpunet.optim.SGD([("w", a), b]), ValueError, "Some param names are missing"),
    (lambda a, b: gpunet.optim.SGD([{"params": [("w", a)]}, {"params": [b]}]), ValueError,
     "cannot add param group without names"),
    (lambda a, b: gpunet.optim.LBFGS([{"params": [a]}, {"params": [b]}]), ValueError,
     "LBFGS doesn't support per-parameter options (parameter groups)"),
])
def test_construction_errors(make, exc, msg):
    with pytest.raises(exc) as err:
        make(leaf(2), leaf(3))
    assert msg in str(err.value)


def test_add_param_group():
    a, b, c = leaf(2), leaf(3), leaf(4)
    opt = gpunet.optim.Adam([a], lr=0.1, betas=(0.5, 0.6))
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert opt.param_groups[1]["lr"] == 0.2 and opt.param_groups[1]["betas"] == (0.5, 0.6)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([c])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [c, a]})
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {c}})
    assert len(opt.param_groups) == 2


class NeedsLr(Optimizer):
    def __init__(self, params, lr=required):
        super().__init__(params, {"lr": lr})

    def step(self, closure=None):
        return self._run_closure(closure)


def test_required_hyperparameter():
    with pytest.raises(ValueError, match="parameter group didn't specify a value of required optimization "
                                         "parameter lr"):
        NeedsLr([leaf(2)])
    opt = NeedsLr([{"params": [leaf(2)], "lr": 0.3}])
    assert opt.param_groups[0]["lr"] == 0.3
    assert repr(required) == "<required parameter>"


def test_duplicate_param_in_group_warns_and_is_updated_twice(device):
    torch = pytest.importorskip("torch")
    p, tp = leaf(3, device=device), torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = gpunet.optim.Adam([p, p], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        topt = torch.optim.Adam([tp, tp], lr=0.1)
    p.grad = gpunet.tensor([1.0, -1.0, 0.5], device=device)
    tp.grad = torch.tensor([1.0, -1.0, 0.5])
    for _ in range(2):
        opt.step()
        topt.step()
    np.testing.assert_allclose(values([p])[0], tp.detach().numpy(), rtol=1e-6)
    assert float(opt.state[p]["step"]) == 4.0


# ---- frozen and zero-grad params ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam"])
@FLAT
def test_frozen_param_never_moves_and_zero_grad_param_does(name, flat, device):
    frozen, zero, live = leaf(3, device=device), leaf(3, device=device), leaf(3, device=device)
    frozen.requires_grad_(False)
    opt = getattr(gpunet.optim, name)([frozen, zero, live], lr=0.1, weight_decay=0.1,
                                      **({"momentum": 0.9} if name == "SGD" else {}))
    opt._flat_devices = layout(flat, device)
    before = values([frozen, zero])
    for _ in range(3):
        zero.grad = gpunet.zeros(3, device=device)
        live.grad = gpunet.ones(3, device=device)
        opt.step()
    np.testing.assert_array_equal(values([frozen])[0], before[0])
    assert frozen not in opt.state
    assert not np.array_equal(values([zero])[0], before[1])  # weight decay / momentum still apply
    assert len(opt.state_dict()["state"]) == 2


@FLAT
def test_param_frozen_mid_training_keeps_values_and_state(flat, device):
    torch = pytest.importorskip("torch")
    ps = [leaf(4, device=device), leaf(2, 2, device=device), leaf(3, device=device)]
    tps = [torch.tensor(v, requires_grad=True) for v in values(ps)]
    opt = gpunet.optim.Adam(ps, lr=0.1, weight_decay=0.1)
    opt._flat_devices = layout(flat, device)
    topt = torch.optim.Adam(tps, lr=0.1, weight_decay=0.1)
    for step in range(8):
        frozen = 1 if 2 <= step < 5 else None  # the middle param sits out three steps, then comes back
        for i, (p, tp) in enumerate(zip(ps, tps)):
            g = np.sin(np.arange(p.numel()) + step + i).reshape(tuple(p.shape)).astype(np.float32)
            p.grad = None if i == frozen else gpunet.tensor(g, device=device)
            tp.grad = None if i == frozen else torch.tensor(g)
        snapshot = None
        if frozen:
            snapshot = values([ps[1], opt.state[ps[1]]["exp_avg"]])
        opt.step()
        topt.step()
        if frozen:
            np.testing.assert_array_equal(values([ps[1]])[0], snapshot[0])
            np.testing.assert_array_equal(values([opt.state[ps[1]]["exp_avg"]])[0], snapshot[1])
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(values([p])[0], tp.detach().numpy(), rtol=1e-6, atol=1e-7)
    assert float(opt.state[ps[1]]["step"]) == 5.0 and float(opt.state[ps[0]]["step"]) == 8.0


def test_zero_grad_modes(device):
    a, b, c = leaf(2, device=device), leaf(3, device=device), leaf(1, device=device)
    opt = gpunet.optim.SGD([a, b, c], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.zero_grad()
    assert a.grad is None and b.grad is None and c.grad is None
    (a.sum() * 3).backward()
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g and not g.requires_grad
    np.testing.assert_array_equal(g.cpu().numpy(), 0.0)
    assert c.grad is None
    before = values([a])
    opt.step()  # a zero grad: plain SGD leaves the value, but the param was stepped
    np.testing.assert_array_equal(values([a])[0], before[0])


def test_step_does_not_touch_grad_and_bumps_version(device):
    p = leaf(3, device=device)
    opt = gpunet.optim.Adam([p], lr=0.1)
    y = (p * p).sum()  # saves p for backward
    p.grad = gpunet.ones(3, device=device)
    g = p.grad.cpu().numpy().copy()
    opt.step()
    np.testing.assert_array_equal(p.grad.cpu().numpy(), g)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_closure_runs_with_grad_enabled_and_loss_is_returned(device):
    p = leaf(2, device=device)
    opt = gpunet.optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with gpunet.no_grad():
        loss = opt.step(closure)
    assert float(loss) == pytest.approx(0.05)
    np.testing.assert_allclose(values([p])[0], [0.1 - 0.02, 0.2 - 0.04], rtol=1e-6)


# ---- state_dict ---------------------------------------------------------------------------------------
def _train(opt, params, steps, start=0):
    for k in range(start, start + steps):
        set_grads(params, scale=1.0 + 0.1 * k)
        opt.step()


@pytest.mark.parametrize("name", list(ALGOS))
def test_state_dict_layout_matches_torch(name, device):
    torch = pytest.importorskip("torch")
    ps = [leaf(2, 3, device=device), leaf(4, device=device), leaf(2, device=device), leaf(3, device=device)]
    tps = [torch.tensor(v, requires_grad=True) for v in values(ps)]
    def groups(q):
        return [{"params": [q[0], q[1]]}, {"params": [q[2], q[3]], "lr": 0.01}]

    opt = getattr(gpunet.optim, name)(groups(ps), **ALGOS[name])
    topt = getattr(torch.optim, name)(groups(tps), **ALGOS[name])
    for k in range(3):
        for i, (p, tp) in enumerate(zip(ps, tps)):
            if i == 2:
                continue  # no grad: no state, as in PyTorch
            g = np.cos(np.arange(p.numel()) + i + k).reshape(tuple(p.shape)).astype(np.float32)
            p.grad, tp.grad = gpunet.tensor(g, device=device), torch.tensor(g)
        opt.step()
        topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert list(sd["state"]) == list(tsd["state"])
    for i, tstate in tsd["state"].items():
        assert list(sd["state"][i]) == list(tstate)
        for key, tv in tstate.items():
            v = sd["state"][i][key]
            # PyTorch (not capturable) keeps the step counters on the cpu, the rest with the param
            where = "cpu" if key in ("step", "mu_product") else device
            assert isinstance(v, gpunet.Tensor) and v.device.type == where, key
            assert tuple(v.shape) == tuple(tv.shape)
            assert str(v.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1]
            np.testing.assert_allclose(v.cpu().numpy(), tv.numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_of_fresh_optimizer_is_empty():
    assert gpunet.optim.Adam([leaf(2)]).state_dict()["state"] == {}


@FLAT
@pytest.mark.parametrize("name", list(ALGOS))
def test_resume_is_bitwise_equal_to_uninterrupted_training(name, flat, device):
    half = 1 if simulated(device) else 3  # a step launches kernels, ~25 ms each in the simulator
    ref = [leaf(2, 3, device=device), leaf(4, device=device)]
    opt = getattr(gpunet.optim, name)(ref, **ALGOS[name])
    _train(opt, ref, 2 * half)

    ps = [leaf(2, 3, device=device), leaf(4, device=device)]
    first = getattr(gpunet.optim, name)(ps, **ALGOS[name])
    first._flat_devices = layout(flat, device)
    _train(first, ps, half)
    saved = copy.deepcopy(first.state_dict())  # what a checkpoint holds
    resumed_params = [gpunet.tensor(v, requires_grad=True, device=device) for v in values(ps)]
    resumed = getattr(gpunet.optim, name)(resumed_params, lr=123.0)
    resumed._flat_devices = layout(flat, device)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == ALGOS[name]["lr"]  # loaded hyperparameters replace current ones
    _train(resumed, resumed_params, half, start=half)
    for a, b in zip(values(resumed_params), values(ref)):
        np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(tmp_path, device):
    ps = [leaf(2, 3, device=device), leaf(4, device=device)]
    opt = gpunet.optim.Adam(ps, lr=0.1, amsgrad=True)
    _train(opt, ps, 2)
    try:
        gpunet.save(opt.state_dict(), tmp_path / "opt.pt")
    except NotImplementedError:
        pytest.skip("gpunet.save is not implemented yet")
    loaded = gpunet.load(tmp_path / "opt.pt")
    fresh = gpunet.optim.Adam(ps, lr=0.1, amsgrad=True)
    fresh.load_state_dict(loaded)
    for i, p in enumerate(ps):
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(fresh.state[p][key].cpu().numpy(), value.cpu().numpy())


def test_load_state_dict_errors():
    a, b, c = leaf(2), leaf(3), leaf(4)
    opt = gpunet.optim.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1)
    with pytest.raises(ValueError, match="loaded state dict has a different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0], "lr": 0.1}]})
    with pytest.raises(ValueError, match="loaded state dict contains a parameter group that doesn't match "
                                         "the size of optimizer's group"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})


def test_load_casts_state_to_param_dtype_and_keeps_step(device):
    p64 = leaf(3, dtype=gpunet.float64, device=device)
    opt64 = gpunet.optim.Adam([p64], lr=0.1)
    _train(opt64, [p64], 2)
    p32 = leaf(3, device=device)
    opt32 = gpunet.optim.Adam([p32], lr=0.1)
    opt32.load_state_dict(opt64.state_dict())
    state = opt32.state[p32]
    assert state["exp_avg"].dtype == gpunet.float32 and state["exp_avg_sq"].dtype == gpunet.float32
    assert state["exp_avg"].device.type == device
    assert state["step"].dtype == gpunet.float32 and str(state["step"].device) == "cpu"
    assert float(state["step"]) == 2.0
    _train(opt32, [p32], 1)
    assert float(opt32.state[p32]["step"]) == 3.0


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-tensor"])
def test_loaded_state_tensors_are_the_ones_updated(flat, device):
    # as in PyTorch: state tensors already on the param's device and dtype are used, not copied, so the
    # loaded dict (a checkpoint's) sees the resumed training's updates
    ps = [leaf(3, device=device), leaf(2, device=device)]
    opt = gpunet.optim.Adam(ps, lr=0.1)
    _train(opt, ps, 2)
    saved = copy.deepcopy(opt.state_dict())
    fresh = [leaf(3, device=device), leaf(2, device=device)]
    resumed = gpunet.optim.Adam(fresh, lr=0.1)
    if not flat:
        resumed._flat_devices = frozenset()
    resumed.load_state_dict(saved)
    _train(resumed, fresh, 2)
    for i, p in enumerate(fresh):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert resumed.state[p][key] is saved["state"][i][key], key
        assert float(saved["state"][i]["step"]) == 4.0


def test_load_state_dict_accepts_plain_number_step(device):
    p = leaf(3, device=device)
    opt = gpunet.optim.Adam([p], lr=0.1)
    _train(opt, [p], 1)
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["step"] = 1  # an old checkpoint
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["step"], gpunet.Tensor)
    _train(opt, [p], 1)
    assert float(opt.state[p]["step"]) == 2.0


# ---- step counting, hooks, copies ---------------------------------------------------------------------
def test_step_count_counts_every_step_including_overriding_subclasses():
    class Tracked(gpunet.optim.Adam):
        calls = 0

        def step(self, closure=None):
            Tracked.calls += 1
            return super().step(closure)

    class Deeper(Tracked):
        def step(self, closure=None):
            return super().step(closure)

    for cls in (gpunet.optim.SGD, Tracked, Deeper, NeedsLr):
        p = leaf(2)
        opt = cls([p], lr=0.1)
        assert opt._step_count == 0
        p.grad = gpunet.ones(2)
        opt.step()
        opt.step()
        assert opt._step_count == 2, cls
    assert Tracked.calls == 4


def test_step_hooks_and_state_dict_hooks():
    p = leaf(2)
    opt = gpunet.optim.SGD([p], lr=0.1)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", o._step_count)))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", o._step_count)))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: {k: v for k, v in sd.items() if k != "extra"})
    p.grad = gpunet.ones(2)
    opt.step()
    h1.remove()
    opt.step()
    assert seen == [("pre", 1), ("post", 1), ("post", 2)]
    sd = opt.state_dict()
    assert sd["extra"] == 1
    opt.load_state_dict(sd)


def test_deepcopy_gives_an_independent_equal_optimizer(device):
    ps = [leaf(2, 3, device=device), leaf(4, device=device)]
    opt = gpunet.optim.Adam(ps, lr=0.1)
    _train(opt, ps, 2)
    twin = copy.deepcopy(opt)
    twin_ps = twin.param_groups[0]["params"]
    _train(opt, ps, 1, start=2)
    _train(twin, twin_ps, 1, start=2)
    for a, b in zip(values(ps), values(twin_ps)):
        np.testing.assert_array_equal(a, b)
    assert twin_ps[0] is not ps[0] and twin._step_count == 1  # counted from the copy on


@FLAT
def test_zero_size_and_zero_dim_params(flat, device):
    empty, scalar, vec = leaf(0, device=device), leaf(value=0.5, device=device), leaf(3, device=device)
    opt = gpunet.optim.Adam([empty, scalar, vec], lr=0.1)
    opt._flat_devices = layout(flat, device)
    for _ in range(2):
        empty.grad, vec.grad = gpunet.zeros(0, device=device), gpunet.ones(3, device=device)
        scalar.grad = gpunet.tensor(1.0, device=device)
        opt.step()
    assert tuple(empty.shape) == (0,) and tuple(scalar.shape) == ()
    assert float(scalar) == pytest.approx(0.3, rel=1e-5)  # Adam moves by ~lr per step on a constant grad
    assert tuple(opt.state[scalar]["exp_avg"].shape) == ()
    assert float(opt.state[scalar]["exp_avg"]) == pytest.approx(0.19)  # 0.1, then 0.9 * 0.1 + 0.1


@FLAT
def test_state_of_zero_dim_params_is_the_state_updated(flat, device):
    # a bucket of 0-d params only: their 0-d exp_avg is array state, not a step counter
    ps = [leaf(value=0.5, device=device), leaf(value=-0.5, device=device)]
    opt = gpunet.optim.Adam(ps, lr=0.1)
    opt._flat_devices = layout(flat, device)
    for _ in range(3):
        ps[0].grad, ps[1].grad = gpunet.tensor(1.0, device=device), gpunet.tensor(2.0, device=device)
        opt.step()
    for p, g in zip(ps, (1.0, 2.0)):
        state = opt.state[p]
        assert float(state["step"]) == 3.0
        assert float(state["exp_avg"]) == pytest.approx(g * (1 - 0.9 ** 3))
        assert float(state["exp_avg_sq"]) == pytest.approx(g * g * (1 - 0.999 ** 3))


def test_unsupported_param_dtype_is_named(device):
    p = gpunet.zeros(3, dtype=gpunet.float16, requires_grad=True, device=device)
    opt = gpunet.optim.Adam([p])
    p.grad = gpunet.zeros(3, dtype=gpunet.float16, device=device)
    with pytest.raises(TypeError, match=r"Adam: a parameter of shape \(3,\) has dtype .*float16"):
        opt.step()


def test_lbfgs_params_on_two_devices_raise():
    a, b = leaf(2), gpunet.zeros(2, device="cuda", requires_grad=True)
    opt = gpunet.optim.LBFGS([a, b])
    with pytest.raises(RuntimeError, match="LBFGS: all parameters must be on one device"):
        opt.step(lambda: (a * a).sum())
