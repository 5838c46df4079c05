"""Fused optimizer kernels: each equals a per-tensor NumPy reference of the algorithm in PyTorch's
docs and torch.optim's trajectories; kernels.cuda (simulator or GPU) equals kernels.cpu; bad arguments
raise before anything is updated."""
import itertools
import math
from typing import ClassVar

import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cpu.optim as cpu_optim
import kernels.cuda as KG

STEPS = 20
TOL = {np.float64: 1e-12, np.float32: 2e-6}  # relative; atol is TOL * max|expected|


def grid(**axes):
    """Every combination of the option values given, as dicts."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def lr_at(base, t):
    return base * (1.0 - 0.02 * t)  # lr changes every step, as under a scheduler


def nadam_mu(beta1, t, momentum_decay=0.004):
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


# --------------------------------------------------------------------------------------------------
# One spec per algorithm: hyperparameters, option grid, initial state, kernel call, NumPy reference.
# A reference works per tensor on NumPy arrays in their dtype, scalars cast to it (float32 math).
# --------------------------------------------------------------------------------------------------


class SGD:
    hyper: ClassVar[dict] = {"lr": 0.05}
    options: ClassVar[list] = [
        o for o in grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                        weight_decay=[0.0, 0.1], maximize=[False, True])
        if not (o["nesterov"] and (o["momentum"] == 0 or o["dampening"] != 0))]

    @staticmethod
    def state(o):
        # NaN: the first step must overwrite the buffer with the gradient, never read it
        return {"momentum_buffer": math.nan if o["momentum"] else None}

    @staticmethod
    def call(K, a, o, t, lr):
        K.sgd_step(a["param"], a["grad"], a["momentum_buffer"], lr, o["momentum"], o["dampening"],
                   o["weight_decay"], o["nesterov"], o["maximize"], t == 1)

    @staticmethod
    def ref(a, o, t, lr):
        c = a["param"].dtype.type
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if o["weight_decay"]:
            g = g + c(o["weight_decay"]) * p
        if o["momentum"]:
            b = a["momentum_buffer"]
            b[:] = g if t == 1 else c(o["momentum"]) * b + c(1 - o["dampening"]) * g
            g = g + c(o["momentum"]) * b if o["nesterov"] else b
        p -= c(lr) * g

    @staticmethod
    def torch(torch, ps, o, lr):
        return torch.optim.SGD(ps, lr=lr, momentum=o["momentum"], dampening=o["dampening"],
                               weight_decay=o["weight_decay"], nesterov=o["nesterov"], maximize=o["maximize"],
                               foreach=False)


class Adam:
    hyper: ClassVar[dict] = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                                   amsgrad=[False, True], maximize=[False, True])

    @staticmethod
    def state(o):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0, "max_exp_avg_sq": 0.0 if o["amsgrad"] else None}

    @staticmethod
    def call(K, a, o, t, lr):
        h = Adam.hyper
        K.adam_step(a["param"], a["grad"], a["exp_avg"], a["exp_avg_sq"], a["max_exp_avg_sq"], lr, h["beta1"],
                    h["beta2"], h["eps"], o["weight_decay"], o["decoupled_weight_decay"], o["amsgrad"],
                    o["maximize"], t)

    @staticmethod
    def ref(a, o, t, lr):
        h, c = Adam.hyper, a["param"].dtype.type
        b1, b2, wd = h["beta1"], h["beta2"], o["weight_decay"]
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if wd and o["decoupled_weight_decay"]:
            p *= c(1 - lr * wd)
        elif wd:
            g = g + c(wd) * p
        m, v = a["exp_avg"], a["exp_avg_sq"]
        m[:] = c(b1) * m + c(1 - b1) * g
        v[:] = c(b2) * v + c(1 - b2) * g * g
        if o["amsgrad"]:
            np.maximum(a["max_exp_avg_sq"], v, out=a["max_exp_avg_sq"])
            v = a["max_exp_avg_sq"]
        m_hat = m / c(1 - b1 ** t)
        p -= c(lr) * m_hat / (np.sqrt(v) / c(math.sqrt(1 - b2 ** t)) + c(h["eps"]))

    @staticmethod
    def torch(torch, ps, o, lr):
        h = Adam.hyper
        return torch.optim.Adam(ps, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                weight_decay=o["weight_decay"], amsgrad=o["amsgrad"], maximize=o["maximize"],
                                decoupled_weight_decay=o["decoupled_weight_decay"], foreach=False)


class RMSprop:
    hyper: ClassVar[dict] = {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], momentum=[0.0, 0.9], centered=[False, True],
                   maximize=[False, True])

    @staticmethod
    def state(o):
        return {"square_avg": 0.0, "grad_avg": 0.0 if o["centered"] else None,
                "momentum_buffer": 0.0 if o["momentum"] > 0 else None}

    @staticmethod
    def call(K, a, o, t, lr):
        h = RMSprop.hyper
        K.rmsprop_step(a["param"], a["grad"], a["square_avg"], a["grad_avg"], a["momentum_buffer"], lr,
                       h["alpha"], h["eps"], o["weight_decay"], o["momentum"], o["centered"], o["maximize"])

    @staticmethod
    def ref(a, o, t, lr):
        h, c = RMSprop.hyper, a["param"].dtype.type
        alpha = h["alpha"]
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if o["weight_decay"]:
            g = g + c(o["weight_decay"]) * p
        v = a["square_avg"]
        v[:] = c(alpha) * v + c(1 - alpha) * g * g
        v_tilde = v
        if o["centered"]:
            ga = a["grad_avg"]
            ga[:] = c(alpha) * ga + c(1 - alpha) * g
            v_tilde = v - ga * ga
        denom = np.sqrt(v_tilde) + c(h["eps"])
        if o["momentum"] > 0:
            b = a["momentum_buffer"]
            b[:] = c(o["momentum"]) * b + g / denom
            p -= c(lr) * b
        else:
            p -= c(lr) * g / denom

    @staticmethod
    def torch(torch, ps, o, lr):
        h = RMSprop.hyper
        return torch.optim.RMSprop(ps, lr=lr, alpha=h["alpha"], eps=h["eps"], weight_decay=o["weight_decay"],
                                   momentum=o["momentum"], centered=o["centered"], maximize=o["maximize"],
                                   foreach=False)


class Adagrad:
    hyper: ClassVar[dict] = {"lr": 0.05, "eps": 1e-8, "initial_accumulator_value": 0.1}
    options: ClassVar[list] = grid(lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1], maximize=[False, True])

    @staticmethod
    def state(o):
        return {"state_sum": Adagrad.hyper["initial_accumulator_value"]}

    @staticmethod
    def call(K, a, o, t, lr):
        K.adagrad_step(a["param"], a["grad"], a["state_sum"], lr, o["lr_decay"], o["weight_decay"],
                       Adagrad.hyper["eps"], o["maximize"], t)

    @staticmethod
    def ref(a, o, t, lr):
        c = a["param"].dtype.type
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        clr = lr / (1 + (t - 1) * o["lr_decay"])
        if o["weight_decay"]:
            g = g + c(o["weight_decay"]) * p
        s = a["state_sum"]
        s += g * g
        p -= c(clr) * g / (np.sqrt(s) + c(Adagrad.hyper["eps"]))

    @staticmethod
    def torch(torch, ps, o, lr):
        h = Adagrad.hyper
        return torch.optim.Adagrad(ps, lr=lr, lr_decay=o["lr_decay"], weight_decay=o["weight_decay"],
                                   initial_accumulator_value=h["initial_accumulator_value"], eps=h["eps"],
                                   maximize=o["maximize"], foreach=False)


class Adadelta:
    hyper: ClassVar[dict] = {"lr": 0.9, "rho": 0.85, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], maximize=[False, True])

    @staticmethod
    def state(o):
        return {"square_avg": 0.0, "acc_delta": 0.0}

    @staticmethod
    def call(K, a, o, t, lr):
        h = Adadelta.hyper
        K.adadelta_step(a["param"], a["grad"], a["square_avg"], a["acc_delta"], lr, h["rho"], h["eps"],
                        o["weight_decay"], o["maximize"])

    @staticmethod
    def ref(a, o, t, lr):
        h, c = Adadelta.hyper, a["param"].dtype.type
        rho, eps = c(h["rho"]), c(h["eps"])
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if o["weight_decay"]:
            g = g + c(o["weight_decay"]) * p
        v, u = a["square_avg"], a["acc_delta"]
        v[:] = rho * v + c(1 - h["rho"]) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u[:] = rho * u + c(1 - h["rho"]) * delta * delta
        p -= c(lr) * delta

    @staticmethod
    def torch(torch, ps, o, lr):
        h = Adadelta.hyper
        return torch.optim.Adadelta(ps, lr=lr, rho=h["rho"], eps=h["eps"], weight_decay=o["weight_decay"],
                                    maximize=o["maximize"], foreach=False)


class Adamax:
    hyper: ClassVar[dict] = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], maximize=[False, True])

    @staticmethod
    def state(o):
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    @staticmethod
    def call(K, a, o, t, lr):
        h = Adamax.hyper
        K.adamax_step(a["param"], a["grad"], a["exp_avg"], a["exp_inf"], lr, h["beta1"], h["beta2"], h["eps"],
                      o["weight_decay"], o["maximize"], t)

    @staticmethod
    def ref(a, o, t, lr):
        h, c = Adamax.hyper, a["param"].dtype.type
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if o["weight_decay"]:
            g = g + c(o["weight_decay"]) * p
        m, u = a["exp_avg"], a["exp_inf"]
        m[:] = c(h["beta1"]) * m + c(1 - h["beta1"]) * g
        u[:] = np.maximum(c(h["beta2"]) * u, np.abs(g) + c(h["eps"]))
        p -= c(lr) * m / (c(1 - h["beta1"] ** t) * u)

    @staticmethod
    def torch(torch, ps, o, lr):
        h = Adamax.hyper
        return torch.optim.Adamax(ps, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                  weight_decay=o["weight_decay"], maximize=o["maximize"], foreach=False)


class NAdam:
    hyper: ClassVar[dict] = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                                   maximize=[False, True])

    @staticmethod
    def state(o):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    @staticmethod
    def call(K, a, o, t, lr):
        # the caller keeps mu_product (PyTorch keeps it per param); here a Python float in the state dict
        h = NAdam.hyper
        mu, mu_next = nadam_mu(h["beta1"], t), nadam_mu(h["beta1"], t + 1)
        a["mu_product"] = a.get("mu_product", 1.0) * mu
        K.nadam_step(a["param"], a["grad"], a["exp_avg"], a["exp_avg_sq"], lr, h["beta1"], h["beta2"],
                     h["eps"], o["weight_decay"], o["decoupled_weight_decay"], o["maximize"], mu, mu_next,
                     a["mu_product"], a["mu_product"] * mu_next, t)

    @staticmethod
    def ref(a, o, t, lr):
        h, c = NAdam.hyper, a["param"].dtype.type
        b1, b2, wd = h["beta1"], h["beta2"], o["weight_decay"]
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if wd and o["decoupled_weight_decay"]:
            p -= c(lr * wd) * p
        elif wd:
            g = g + c(wd) * p
        mus = [nadam_mu(b1, i) for i in range(1, t + 2)]
        mu_t, mu_next = mus[-2], mus[-1]
        m, v = a["exp_avg"], a["exp_avg_sq"]
        m[:] = c(b1) * m + c(1 - b1) * g
        v[:] = c(b2) * v + c(1 - b2) * g * g
        m_hat = (c(mu_next / (1 - math.prod(mus))) * m + c((1 - mu_t) / (1 - math.prod(mus[:-1]))) * g)
        v_hat = v / c(1 - b2 ** t)
        p -= c(lr) * m_hat / (np.sqrt(v_hat) + c(h["eps"]))

    @staticmethod
    def torch(torch, ps, o, lr):
        h = NAdam.hyper
        return torch.optim.NAdam(ps, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                 weight_decay=o["weight_decay"], momentum_decay=0.004,
                                 decoupled_weight_decay=o["decoupled_weight_decay"], maximize=o["maximize"],
                                 foreach=False)


class RAdam:
    # beta2 = 0.99: rho_t <= 5 for the first steps (unrectified branch), > 5 afterwards
    hyper: ClassVar[dict] = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
    options: ClassVar[list] = grid(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                                   maximize=[False, True])

    @staticmethod
    def state(o):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    @staticmethod
    def call(K, a, o, t, lr):
        h = RAdam.hyper
        K.radam_step(a["param"], a["grad"], a["exp_avg"], a["exp_avg_sq"], lr, h["beta1"], h["beta2"],
                     h["eps"], o["weight_decay"], o["decoupled_weight_decay"], o["maximize"], t)

    @staticmethod
    def ref(a, o, t, lr):
        h, c = RAdam.hyper, a["param"].dtype.type
        b1, b2, wd = h["beta1"], h["beta2"], o["weight_decay"]
        p, g = a["param"], (-a["grad"] if o["maximize"] else a["grad"].copy())
        if wd and o["decoupled_weight_decay"]:
            p -= c(lr * wd) * p
        elif wd:
            g = g + c(wd) * p
        m, v = a["exp_avg"], a["exp_avg_sq"]
        m[:] = c(b1) * m + c(1 - b1) * g
        v[:] = c(b2) * v + c(1 - b2) * g * g
        m_hat = m / c(1 - b1 ** t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            l_t = c(math.sqrt(1 - b2 ** t)) / (np.sqrt(v) + c(h["eps"]))
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p -= c(lr) * m_hat * c(r_t) * l_t
        else:
            p -= c(lr) * m_hat

    @staticmethod
    def torch(torch, ps, o, lr):
        h = RAdam.hyper
        return torch.optim.RAdam(ps, lr=lr, betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                 weight_decay=o["weight_decay"],
                                 decoupled_weight_decay=o["decoupled_weight_decay"],
                                 maximize=o["maximize"], foreach=False)


ALGOS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
         "adamax": Adamax, "nadam": NAdam, "radam": RAdam}
CASES = [(name, o) for name, spec in ALGOS.items() for o in spec.options]


def case_id(case):
    name, o = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in o.items())


def make_arrays(spec, o, n, dtype, rng, xp=np):
    a = {"param": rng.standard_normal(n), "grad": np.zeros(n)}
    for name, init in spec.state(o).items():
        a[name] = None if init is None else np.full(n, init)
    return {k: (None if v is None else xp.asarray(v.astype(dtype))) for k, v in a.items()}


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def copy_arrays(a):
    return {k: (v.copy() if hasattr(v, "copy") else v) for k, v in a.items()}


def assert_close(actual, expected, dtype, what, tol=None):
    tol = TOL[dtype] if tol is None else tol
    actual, expected = host(actual), host(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def assert_same_state(got, want, dtype, tol=None):
    for name, value in want.items():
        if isinstance(value, float) or value is None:
            continue
        assert_close(got[name], value, dtype, name, tol)


# --------------------------------------------------------------------------------------------------
# CPU kernel == NumPy reference, every option combination, float64 and float32, 20 steps.
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loop", ["one-thread", "thread-pool"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cpu_matches_reference(case, dtype, loop, monkeypatch):
    if loop == "thread-pool":  # small arrays run on one thread; large ones take the pool
        monkeypatch.setattr(cpu_optim, "SERIAL_BELOW", 0)
    name, o = case
    spec = ALGOS[name]
    rng = np.random.default_rng(0)
    fused = make_arrays(spec, o, 257, dtype, rng)
    ref = copy_arrays(fused)
    for t in range(1, STEPS + 1):
        grad = (0.5 * rng.standard_normal(257)).astype(dtype)
        fused["grad"][:] = grad
        ref["grad"][:] = grad
        lr = lr_at(spec.hyper["lr"], t)
        spec.call(KC, fused, o, t, lr)
        spec.ref(ref, o, t, lr)
        assert np.isfinite(fused["param"]).all()
    assert_same_state(fused, ref, dtype)


@pytest.mark.parametrize("K, serial_below", [(KC, 0), (KC, 1 << 40), (KG, 0)],
                         ids=["cpu-thread-pool", "cpu-one-thread", "cuda"])
@pytest.mark.parametrize("name", list(ALGOS))
def test_grad_segments_equal_one_grad_array(K, serial_below, name, monkeypatch):
    # a param group's grads, passed as they are: segments back to back along the param, some empty; small
    # work items on the CPU so items start and end inside segments
    monkeypatch.setattr(cpu_optim, "SERIAL_BELOW", serial_below)
    monkeypatch.setattr(cpu_optim, "WORK_ITEM", 7)
    spec = ALGOS[name]
    o = spec.options[-1]
    rng = np.random.default_rng(1)
    whole = make_arrays(spec, o, 257, np.float64, rng, K.xp)
    split = copy_arrays(whole)
    bounds = [0, 0, 5, 5, 105, 257]
    for t in range(1, 4):
        grad = K.xp.asarray(rng.standard_normal(257))
        whole["grad"] = grad
        split["grad"] = [grad[a:b].copy() for a, b in zip(bounds, bounds[1:])]
        lr = lr_at(spec.hyper["lr"], t)
        spec.call(K, whole, o, t, lr)
        spec.call(K, split, o, t, lr)
    for key, value in whole.items():
        if key != "grad" and hasattr(value, "shape"):
            np.testing.assert_array_equal(host(split[key]), host(value), err_msg=key)


@pytest.mark.parametrize("serial_below", [0, 1 << 40], ids=["thread-pool", "one-thread"])
def test_many_and_read_only_grad_segments(serial_below, monkeypatch):
    # more segments than one chunk of the typed-list builder, one of them read-only; and no segments at all
    monkeypatch.setattr(cpu_optim, "SERIAL_BELOW", serial_below)
    n = 2 * cpu_optim.SEGMENT_CHUNK + 3
    grad = np.arange(1.0, 2 * n + 1)
    segments = [grad[2 * k:2 * k + 2].copy() for k in range(n)]
    segments[n // 2].flags.writeable = False
    p = np.zeros(2 * n)
    KC.sgd_step(p, segments, None, 0.5, 0.0, 0.0, 0.0, False, False, True)
    np.testing.assert_array_equal(p, -0.5 * grad)
    e = np.empty(0)
    KC.adam_step(e, [], e.copy(), e.copy(), None, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False, 1)


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_bad_grad_segments_raise_before_update(K):
    xp = K.xp
    p, m, v = xp.ones(6), xp.zeros(6), xp.zeros(6)
    cases = {
        "too few elements": ([xp.ones(2), xp.ones(3)], ValueError, "grad segments hold 5 elements in all, "
                                                                   "expected param's 6"),
        "float32 segment": ([xp.ones(2), xp.ones(4, dtype=np.float32)], TypeError,
                            "grad segment 1 has dtype float32"),
        "2-D segment": ([xp.ones((2, 3))], ValueError, "grad segment 0 must be 1-D"),
        "strided segment": ([xp.ones(12)[::2]], ValueError, "grad segment 0 must be C-contiguous"),
    }
    for segments, error, message in cases.values():
        with pytest.raises(error, match="adam_step: " + message):
            K.adam_step(p, segments, m, v, None, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False, 1)
    np.testing.assert_array_equal(host(p), 1.0)


def test_sgd_first_step_ignores_dampening_and_old_buffer():
    p, g = np.ones(5), np.full(5, 2.0)
    buf = np.full(5, np.nan)
    KC.sgd_step(p, g, buf, 0.1, 0.9, 0.5, 0.0, False, False, True)
    np.testing.assert_array_equal(buf, g)  # the gradient itself: no dampening, the NaN never read
    np.testing.assert_array_equal(p, 1.0 - 0.1 * 2.0)


def test_unused_state_is_left_alone():
    p, g, buf = np.ones(4), np.ones(4), np.full(4, 7.0)
    KC.sgd_step(p, g, buf, 0.1, 0.0, 0.0, 0.0, False, False, False)  # momentum 0: buffer unused
    np.testing.assert_array_equal(buf, 7.0)
    m, v, v_max = np.zeros(4), np.zeros(4), np.full(4, 7.0)
    KC.adam_step(p, g, m, v, v_max, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False, 1)  # amsgrad off
    np.testing.assert_array_equal(v_max, 7.0)


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_nan_propagates_through_max(K):
    xp = K.xp
    p, g, m = xp.ones(3), xp.asarray([1.0, np.nan, 1.0]), xp.zeros(3)
    v, v_max = xp.zeros(3), xp.zeros(3)
    K.adam_step(p, g, m, v, v_max, 0.1, 0.9, 0.999, 1e-8, 0.0, False, True, False, 1)
    assert np.isnan(host(v_max)[1]) and np.isnan(host(p)[1]) and np.isfinite(host(p)[[0, 2]]).all()
    p, m, u = xp.ones(3), xp.zeros(3), xp.zeros(3)
    K.adamax_step(p, g, m, u, 0.1, 0.9, 0.999, 1e-8, 0.0, False, 1)
    assert np.isnan(host(u)[1]) and np.isfinite(host(u)[[0, 2]]).all()


@pytest.mark.parametrize("n", [0, 1])
def test_cpu_tiny_sizes(n):
    for spec in ALGOS.values():
        o = spec.options[-1]
        rng = np.random.default_rng(1)
        fused = make_arrays(spec, o, n, np.float64, rng)
        ref = copy_arrays(fused)
        for t in (1, 2):
            fused["grad"][:] = ref["grad"][:] = rng.standard_normal(n)
            spec.call(KC, fused, o, t, 0.01)
            spec.ref(ref, o, t, 0.01)
        assert_same_state(fused, ref, np.float64)


# --------------------------------------------------------------------------------------------------
# CPU kernels called per tensor (flat views) follow torch.optim's trajectories (foreach=False).
# --------------------------------------------------------------------------------------------------

TORCH_SHAPES = [(5, 4), (7,), (2, 3, 2)]
TORCH_TOL = {np.float64: 1e-10, np.float32: 1e-5}


def torch_cases():
    picked = []
    for name, spec in ALGOS.items():
        options = spec.options
        # all options off, all on, and two in between
        for o in {0: options[0], 1: options[-1], 2: options[len(options) // 3],
                  3: options[2 * len(options) // 3]}.values():
            if (name, o) not in picked:
                picked.append((name, o))
    return picked


@pytest.fixture
def torch_dtype(request):
    torch = pytest.importorskip("torch")
    dtype = request.param
    old = torch.get_default_dtype()
    # float64 runs keep PyTorch's scalar state (step, NAdam's mu_product) in float64 too
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    yield torch, dtype
    torch.set_default_dtype(old)


@pytest.mark.parametrize("torch_dtype", [np.float64, np.float32], indirect=True, ids=["float64", "float32"])
@pytest.mark.parametrize("case", torch_cases(), ids=case_id)
def test_cpu_matches_torch(case, torch_dtype):
    torch, dtype = torch_dtype
    name, o = case
    spec = ALGOS[name]
    rng = np.random.default_rng(2)
    ours = []
    for shape in TORCH_SHAPES:
        n = math.prod(shape)
        a = make_arrays(spec, o, n, dtype, rng)
        ours.append((shape, a))
    params = [torch.nn.Parameter(torch.from_numpy(a["param"].reshape(shape).copy())) for shape, a in ours]
    opt = spec.torch(torch, params, o, spec.hyper["lr"])
    for t in range(1, STEPS + 1):
        lr = lr_at(spec.hyper["lr"], t)
        opt.param_groups[0]["lr"] = lr
        for (shape, a), tp in zip(ours, params):
            grad = (0.5 * rng.standard_normal(shape)).astype(dtype)
            tp.grad = torch.from_numpy(grad.copy())
            a["grad"][:] = grad.reshape(-1)
            spec.call(KC, a, o, t, lr)
        opt.step()
    for (shape, a), tp in zip(ours, params):
        np.testing.assert_allclose(a["param"], tp.detach().numpy().reshape(-1), rtol=TORCH_TOL[dtype],
                                   atol=TORCH_TOL[dtype])


# --------------------------------------------------------------------------------------------------
# kernels.cuda (simulator, or a real GPU) equals kernels.cpu: several blocks, a partial last block, 1 and 0.
# --------------------------------------------------------------------------------------------------


def cuda_cases():
    return [(name, o) for name, spec in ALGOS.items() for o in (spec.options[0], spec.options[-1])]


@pytest.mark.parametrize("case", cuda_cases(), ids=case_id)
def test_cuda_matches_cpu(case):
    name, o = case
    spec = ALGOS[name]
    for n, dtype, steps in ((600, np.float32, 2), (1, np.float64, 2), (0, np.float32, 1)):
        rng = np.random.default_rng(3)
        on_cpu = make_arrays(spec, o, n, dtype, rng)
        on_gpu = {k: (None if v is None else KG.xp.asarray(v)) for k, v in on_cpu.items()}
        for t in range(1, steps + 1):
            grad = (0.5 * rng.standard_normal(n)).astype(dtype)
            on_cpu["grad"][:] = grad
            on_gpu["grad"][:] = KG.xp.asarray(grad)
            spec.call(KC, on_cpu, o, t, 0.01)
            spec.call(KG, on_gpu, o, t, 0.01)
        # a real GPU contracts a*b + c into FMAs: a few ulps, not bits
        assert_same_state(on_gpu, on_cpu, dtype, tol=TOL[dtype] if KG.xp is np else 10 * TOL[dtype])


# --------------------------------------------------------------------------------------------------
# Bad arguments raise before anything is updated, naming the op.
# --------------------------------------------------------------------------------------------------


def adam_args(xp, n=6, dtype=np.float32):
    return [xp.ones(n, dtype=dtype), xp.ones(n, dtype=dtype), xp.zeros(n, dtype=dtype),
            xp.zeros(n, dtype=dtype), xp.zeros(n, dtype=dtype), 0.1, 0.9, 0.999, 1e-8, 0.0, False, True,
            False, 1]


def bad_adam_calls(xp):
    def replace(i, value, **kw):
        args = adam_args(xp, **kw)
        args[i] = value
        return args

    return {
        "short grad": (replace(1, xp.ones(5, dtype=np.float32)), ValueError, "elements"),
        "float64 exp_avg": (replace(2, xp.zeros(6)), TypeError, "dtype"),
        "strided exp_avg_sq": (replace(3, xp.zeros(12, dtype=np.float32)[::2]), ValueError, "contiguous"),
        "2-D param": (replace(0, xp.ones((2, 3), dtype=np.float32)), ValueError, "1-D"),
        "amsgrad without max_exp_avg_sq": (replace(4, None), ValueError,
                                           "max_exp_avg_sq is required when amsgrad"),
        "missing exp_avg": (replace(2, None), ValueError, "exp_avg is required"),
        "int arrays": (adam_args(xp, dtype=np.int32), TypeError, "float32 or float64"),
        "float16 arrays": (adam_args(xp, dtype=np.float16), TypeError, "float32 or float64"),
        "list param": (replace(0, [1.0] * 6), TypeError, "param must be"),
    }


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
@pytest.mark.parametrize("what", list(bad_adam_calls(np)))
def test_adam_bad_arguments_raise_before_update(K, what):
    args, error, message = bad_adam_calls(K.xp)[what]
    before = [host(a).copy() if hasattr(a, "shape") else None for a in args[:5]]
    with pytest.raises(error, match=message) as info:
        K.adam_step(*args)
    assert "adam_step" in str(info.value)
    for a, b in zip(args[:5], before):
        if b is not None:
            np.testing.assert_array_equal(host(a), b)


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_missing_state_names_op_and_option(K):
    xp = K.xp
    p, g = xp.ones(4), xp.ones(4)
    with pytest.raises(ValueError, match=r"sgd_step: momentum_buffer is required when momentum != 0"):
        K.sgd_step(p, g, None, 0.1, 0.9, 0.0, 0.0, False, False, False)
    with pytest.raises(ValueError, match=r"rmsprop_step: grad_avg is required when centered=True"):
        K.rmsprop_step(p, g, xp.zeros(4), None, None, 0.1, 0.9, 1e-8, 0.0, 0.0, True, False)
    with pytest.raises(ValueError, match=r"rmsprop_step: momentum_buffer is required when momentum > 0"):
        K.rmsprop_step(p, g, xp.zeros(4), None, None, 0.1, 0.9, 1e-8, 0.0, 0.5, False, False)
    with pytest.raises(ValueError, match=r"adagrad_step: state_sum is required"):
        K.adagrad_step(p, g, None, 0.1, 0.0, 0.0, 1e-10, False, 1)
    with pytest.raises(ValueError, match=r"nadam_step: grad has 3 elements"):
        K.nadam_step(p, xp.ones(3), xp.zeros(4), xp.zeros(4), 0.1, 0.9, 0.999, 1e-8, 0.0, False, False,
                     0.9, 0.9, 0.9, 0.81, 1)
    np.testing.assert_array_equal(host(p), 1.0)


def test_read_only_param_raises():
    p = np.ones(4)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="adagrad_step: param is updated in place but is read-only"):
        KC.adagrad_step(p, np.ones(4), np.zeros(4), 0.1, 0.0, 0.0, 1e-10, False, 1)
