"""Every fused-kernel optimizer, every option combination, on cpu and cuda: 50-step trajectories equal
torch.optim's (for-loop path) and a per-tensor NumPy reference of the algorithm in PyTorch's docs (3 to 6
steps on the simulated cuda device); the flat-buffer path equals the per-tensor path bit for bit;
constructor signatures, param-group keys and validation errors equal PyTorch's."""
import inspect
import itertools
import math

import numpy as np
import pytest

import gpunet
from tests.helpers import simulated

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 50
# a fused step is a kernel launch, ~50 ms with Adam's arguments in the simulator: 3 steps there (bias
# corrections, amsgrad's maximum, momentum buffers all past their first step), 6 for RAdam, whose
# rectified update starts at step 6 with betas (0.8, 0.9)
SIM_STEPS = {"RAdam": 6}
TOL = {"float64": 1e-10, "float32": 1e-5}  # relative; atol = TOL * max |expected|


def grid(**axes):
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


SGD_OPTS = [o for o in grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                            weight_decay=[0.0, 0.1], maximize=[False, True])
            if not (o["nesterov"] and (o["momentum"] == 0 or o["dampening"] != 0))]
ADAM_OPTS = grid(amsgrad=[False, True], weight_decay=[0.0, 0.1], maximize=[False, True])
CASES = (
    [("SGD", dict(lr=0.02, **o)) for o in SGD_OPTS]
    + [("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, **o)) for o in ADAM_OPTS]
    + [("Adam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True})]
    + [("AdamW", dict(lr=0.02, betas=(0.8, 0.99), **o)) for o in ADAM_OPTS]
    + [("RMSprop", dict(lr=0.01, alpha=0.9, **o))
       for o in grid(centered=[False, True], momentum=[0.0, 0.5], weight_decay=[0.0, 0.1])]
    + [("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "maximize": True})]
    + [("Adagrad", dict(lr=0.05, **o))
       for o in grid(lr_decay=[0.0, 0.01], initial_accumulator_value=[0.0, 0.1], weight_decay=[0.0, 0.1])]
    + [("Adagrad", {"lr": 0.05, "maximize": True})]
    + [("Adadelta", dict(lr=0.5, **o))
       for o in grid(rho=[0.9, 0.5], weight_decay=[0.0, 0.1], maximize=[False, True])]
    + [("Adamax", dict(lr=0.02, betas=(0.8, 0.99), **o))
       for o in grid(weight_decay=[0.0, 0.1], maximize=[False, True])]
    + [("NAdam", dict(lr=0.02, betas=(0.8, 0.99), **o))
       for o in grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                     momentum_decay=[4e-3, 2e-2])]
    + [("NAdam", {"lr": 0.02, "maximize": True})]
    + [("RAdam", dict(lr=0.02, betas=(0.8, 0.9), **o))
       for o in grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True])]
)


def case_id(case):
    name, kw = case
    opts = ",".join(f"{k}={v}" for k, v in kw.items() if k not in ("lr", "betas", "eps", "alpha"))
    return f"{name}({opts})"


# ---- the problem: a few params of different shapes, loss = sum w (p - c)^2 + 0.1 p^4 ---------------------
def problem(dtype):
    rng = np.random.default_rng(7)
    p0 = [rng.uniform(-1.5, 1.5, s).astype(dtype) for s in SHAPES]
    w = [rng.uniform(0.5, 2.0, s).astype(dtype) for s in SHAPES]
    c = [rng.uniform(-1.0, 1.0, s).astype(dtype) for s in SHAPES]
    return p0, w, c


def loss_of(params, w, c, kw):
    # maximize=True climbs the negated loss, so every trajectory converges
    loss = sum((wi * (p - ci) ** 2).sum() + 0.1 * (p ** 4).sum() for p, wi, ci in zip(params, w, c))
    return -loss if kw.get("maximize") else loss


def run_gpunet(name, kw, dtype, steps, device="cpu", flat=None):
    p0, w, c = problem(dtype)
    params = [gpunet.tensor(a, device=device, requires_grad=True) for a in p0]
    wt = [gpunet.tensor(a, device=device) for a in w]
    ct = [gpunet.tensor(a, device=device) for a in c]
    opt = getattr(gpunet.optim, name)(params, **kw)
    if flat is not None:
        opt._flat_devices = flat
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params, wt, ct, kw).backward()
        opt.step()
    return [p.detach().cpu().numpy() for p in params], _state_numpy(opt.state_dict()["state"])


def run_torch(torch, name, kw, dtype, steps):
    p0, w, c = problem(dtype)
    params = [torch.tensor(a, requires_grad=True) for a in p0]
    wt, ct = [torch.tensor(a) for a in w], [torch.tensor(a) for a in c]
    kw = dict(kw)
    opt = getattr(torch.optim, name)(params, foreach=False, **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params, wt, ct, kw).backward()
        opt.step()
    return [p.detach().numpy() for p in params], _state_numpy(opt.state_dict()["state"])


def _state_numpy(state):
    return {i: {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in s.items()}
            for i, s in state.items()}


# ---- per-tensor NumPy reference of each algorithm (PyTorch's docs), in the param's dtype -----------------
def reference(name, kw, dtype, steps):
    p0, w, c = problem(dtype)
    ps = [a.copy() for a in p0]
    states = [{} for _ in ps]
    o = dict(DEFAULTS[name], **kw)
    for _ in range(steps):
        for p, wi, ci, st in zip(ps, w, c, states):
            g = (2 * wi * (p - ci) + dtype(0.4) * p ** 3).astype(dtype)
            g = -g if kw.get("maximize") else g
            REF[name](p, g, st, o, p.dtype.type)
    return ps


def _grad(p, g, o, C):
    g = -g if o["maximize"] else g
    if o["weight_decay"] and not o.get("decoupled_weight_decay"):
        g = g + C(o["weight_decay"]) * p
    if o["weight_decay"] and o.get("decoupled_weight_decay"):
        p *= C(1 - o["lr"] * o["weight_decay"])
    return g


def ref_sgd(p, g, st, o, C):
    g = _grad(p, g, o, C)
    if o["momentum"]:
        b = g.copy() if "b" not in st else C(o["momentum"]) * st["b"] + C(1 - o["dampening"]) * g
        st["b"] = b
        g = g + C(o["momentum"]) * b if o["nesterov"] else b
    p -= C(o["lr"]) * g


def ref_adam(p, g, st, o, C):
    t = st["t"] = st.get("t", 0) + 1
    (b1, b2), zero = o["betas"], np.zeros_like(p)
    g = _grad(p, g, o, C)
    m = st["m"] = C(b1) * st.get("m", zero) + C(1 - b1) * g
    v = st["v"] = C(b2) * st.get("v", zero) + C(1 - b2) * g * g
    if o["amsgrad"]:
        v = st["vmax"] = np.maximum(st.get("vmax", zero), v)
    p -= C(o["lr"] / (1 - b1 ** t)) * m / (np.sqrt(v) / C(math.sqrt(1 - b2 ** t)) + C(o["eps"]))


def ref_rmsprop(p, g, st, o, C):
    a, zero = o["alpha"], np.zeros_like(p)
    g = _grad(p, g, o, C)
    v = st["v"] = C(a) * st.get("v", zero) + C(1 - a) * g * g
    if o["centered"]:
        ga = st["ga"] = C(a) * st.get("ga", zero) + C(1 - a) * g
        v = v - ga * ga
    avg = np.sqrt(v) + C(o["eps"])
    if o["momentum"]:
        b = st["b"] = C(o["momentum"]) * st.get("b", zero) + g / avg
        p -= C(o["lr"]) * b
    else:
        p -= C(o["lr"]) * g / avg


def ref_adagrad(p, g, st, o, C):
    t = st["t"] = st.get("t", 0) + 1
    g = _grad(p, g, o, C)
    s = st["s"] = st.get("s", np.full_like(p, o["initial_accumulator_value"])) + g * g
    p -= C(o["lr"] / (1 + (t - 1) * o["lr_decay"])) * g / (np.sqrt(s) + C(o["eps"]))


def ref_adadelta(p, g, st, o, C):
    rho, eps, zero = o["rho"], C(o["eps"]), np.zeros_like(p)
    g = _grad(p, g, o, C)
    v = st["v"] = C(rho) * st.get("v", zero) + C(1 - rho) * g * g
    u = st.get("u", zero)
    dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    st["u"] = C(rho) * u + C(1 - rho) * dx * dx
    p -= C(o["lr"]) * dx


def ref_adamax(p, g, st, o, C):
    t = st["t"] = st.get("t", 0) + 1
    (b1, b2), zero = o["betas"], np.zeros_like(p)
    g = _grad(p, g, o, C)
    m = st["m"] = C(b1) * st.get("m", zero) + C(1 - b1) * g
    u = st["u"] = np.maximum(C(b2) * st.get("u", zero), np.abs(g) + C(o["eps"]))
    p -= C(o["lr"] / (1 - b1 ** t)) * m / u


def ref_nadam(p, g, st, o, C):
    t = st["t"] = st.get("t", 0) + 1
    (b1, b2), psi, zero = o["betas"], o["momentum_decay"], np.zeros_like(p)
    g = _grad(p, g, o, C)
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    # PyTorch keeps the running product in a float32 tensor (its scalar dtype) and multiplies it there
    mu_prod = st["mu_prod"] = float(np.float32(st.get("mu_prod", 1.0)) * np.float32(mu))
    m = st["m"] = C(b1) * st.get("m", zero) + C(1 - b1) * g
    v = st["v"] = C(b2) * st.get("v", zero) + C(1 - b2) * g * g
    denom = np.sqrt(v / C(1 - b2 ** t)) + C(o["eps"])
    p -= C(o["lr"] * (1 - mu) / (1 - mu_prod)) * g / denom
    p -= C(o["lr"] * mu_next / (1 - mu_prod * mu_next)) * m / denom


def ref_radam(p, g, st, o, C):
    t = st["t"] = st.get("t", 0) + 1
    (b1, b2), zero = o["betas"], np.zeros_like(p)
    g = _grad(p, g, o, C)
    m = st["m"] = C(b1) * st.get("m", zero) + C(1 - b1) * g
    v = st["v"] = C(b2) * st.get("v", zero) + C(1 - b2) * g * g
    m_hat = m / C(1 - b1 ** t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho_t > 5:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        p -= C(o["lr"]) * m_hat * (C(math.sqrt(1 - b2 ** t)) / (np.sqrt(v) + C(o["eps"]))) * C(rect)
    else:
        p -= C(o["lr"]) * m_hat


REF = {"SGD": ref_sgd, "Adam": ref_adam, "AdamW": ref_adam, "RMSprop": ref_rmsprop, "Adagrad": ref_adagrad,
       "Adadelta": ref_adadelta, "Adamax": ref_adamax, "NAdam": ref_nadam, "RAdam": ref_radam}
_MAX = {"maximize": False, "weight_decay": 0.0}
DEFAULTS = {
    "SGD": dict(_MAX, momentum=0.0, dampening=0.0, nesterov=False),
    "Adam": dict(_MAX, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled_weight_decay=False),
    "AdamW": dict(_MAX, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled_weight_decay=True,
                  weight_decay=1e-2),
    "RMSprop": dict(_MAX, alpha=0.99, eps=1e-8, momentum=0.0, centered=False),
    "Adagrad": dict(_MAX, lr_decay=0.0, initial_accumulator_value=0.0, eps=1e-10),
    "Adadelta": dict(_MAX, rho=0.9, eps=1e-6),
    "Adamax": dict(_MAX, betas=(0.9, 0.999), eps=1e-8),
    "NAdam": dict(_MAX, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, decoupled_weight_decay=False),
    "RAdam": dict(_MAX, betas=(0.9, 0.999), eps=1e-8, decoupled_weight_decay=False),
}


def assert_close(actual, expected, dtype, what):
    tol = TOL[dtype]
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == e.dtype, f"{what}[{i}]: dtype {a.dtype} != {e.dtype}"
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * max(1.0, float(np.abs(e).max())),
                                   err_msg=f"{what}[{i}]")


# ---- tests ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_matches_reference_and_torch(case, dtype, device):
    name, kw = case
    steps = SIM_STEPS.get(name, 3) if simulated(device) else STEPS
    params, state = run_gpunet(name, kw, dtype, steps, device=device)
    assert_close(params, reference(name, kw, np.dtype(dtype).type, steps), dtype, "vs NumPy reference")
    torch = pytest.importorskip("torch")
    t_params, t_state = run_torch(torch, name, kw, dtype, steps)
    assert_close(params, t_params, dtype, "vs torch params")
    assert state.keys() == t_state.keys()
    for i in t_state:
        assert list(state[i]) == list(t_state[i]), f"state keys of param {i}"
        assert_close(list(state[i].values()), list(t_state[i].values()), dtype, f"state of param {i}")


@pytest.mark.parametrize("gather", [None, 8], ids=["gather-all", "gather-small"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_flat_path_equals_per_tensor_path_bitwise(case, gather):
    """Flat buffers (everything in one call as on CUDA, or small tensors together and the larger alone as on
    the CPU) give exactly the per-tensor numbers. On the cpu: the cuda layout is tested in test_fused_cuda."""
    name, kw = case
    per_tensor = run_gpunet(name, kw, "float32", 12, flat={})
    flat = run_gpunet(name, kw, "float32", 12, flat={"cpu": gather})
    for a, b in zip(per_tensor[0], flat[0]):
        np.testing.assert_array_equal(a, b)
    for i in per_tensor[1]:
        for k in per_tensor[1][i]:
            np.testing.assert_array_equal(per_tensor[1][i][k], flat[1][i][k])


NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS"]


@pytest.mark.parametrize("name", NAMES)
def test_signature_and_group_keys_match_torch(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(gpunet.optim, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == \
           [(p.name, p.kind, p.default) for p in theirs.values()]
    p = gpunet.zeros(2, requires_grad=True)
    tp = torch.zeros(2, requires_grad=True)
    g = getattr(gpunet.optim, name)([p]).param_groups[0]
    tg = getattr(torch.optim, name)([tp]).param_groups[0]
    assert list(g) == list(tg)
    assert {k: v for k, v in g.items() if k != "params"} == {k: v for k, v in tg.items() if k != "params"}


BAD_ARGS = [
    ("SGD", {"lr": -1}), ("SGD", {"momentum": -1}), ("SGD", {"weight_decay": -1}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}), ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": -1}), ("Adam", {"eps": -1}), ("Adam", {"betas": (1.0, 0.9)}),
    ("Adam", {"betas": (0.9, 1.5)}),
    ("Adam", {"weight_decay": -1}), ("Adam", {"fused": True, "foreach": True}),
    ("Adam", {"fused": True, "differentiable": True}), ("AdamW", {"betas": (-0.1, 0.9)}),
    ("RMSprop", {"alpha": -1}), ("RMSprop", {"momentum": -1}), ("RMSprop", {"eps": -1}),
    ("Adagrad", {"lr_decay": -1}), ("Adagrad", {"initial_accumulator_value": -1}),
    ("Adagrad", {"eps": -1}),
    ("Adadelta", {"rho": 1.5}), ("Adadelta", {"lr": -0.5}), ("Adamax", {"betas": (0.9, 1.0)}),
    ("NAdam", {"momentum_decay": -1}), ("RAdam", {"weight_decay": -1}), ("LBFGS", {"lr": -1}),
]


@pytest.mark.parametrize("name,kw", BAD_ARGS, ids=[case_id(c) for c in BAD_ARGS])
def test_invalid_arguments_raise_torch_errors(name, kw):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kw)
    with pytest.raises(theirs.type) as ours:
        getattr(gpunet.optim, name)([gpunet.zeros(1, requires_grad=True)], **kw)
    assert str(ours.value) == str(theirs.value)


def test_tensor_lr_is_read_at_each_step(device):
    p = gpunet.ones(3, requires_grad=True, device=device)
    lr = gpunet.tensor(0.5)  # a cpu tensor, as PyTorch recommends
    opt = gpunet.optim.SGD([p], lr=lr)
    p.grad = gpunet.ones(3, device=device)
    opt.step()
    np.testing.assert_allclose(p.detach().cpu().numpy(), 0.5)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        gpunet.optim.SGD([p], lr=gpunet.ones(2))


def test_lr_changed_in_place_takes_effect_at_next_step(device):
    p = gpunet.zeros(2, requires_grad=True, device=device)
    opt = gpunet.optim.SGD([p], lr=0.1)
    p.grad = gpunet.ones(2, device=device)
    opt.step()
    opt.param_groups[0]["lr"] = 1.0
    opt.step()
    np.testing.assert_allclose(p.detach().cpu().numpy(), -1.1, rtol=1e-6)


def test_adamw_is_adam_with_decoupled_weight_decay(device):
    p, q = (gpunet.ones(3, requires_grad=True, device=device) for _ in range(2))
    a = gpunet.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    b = gpunet.optim.Adam([q], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    assert isinstance(a, gpunet.optim.Adam) and a.param_groups[0]["decoupled_weight_decay"] is True
    for _ in range(3):
        p.grad, q.grad = gpunet.full((3,), 0.3, device=device), gpunet.full((3,), 0.3, device=device)
        a.step()
        b.step()
    np.testing.assert_array_equal(p.detach().cpu().numpy(), q.detach().cpu().numpy())
