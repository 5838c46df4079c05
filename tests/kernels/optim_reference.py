"""Per-tensor NumPy references of the fused optimizer updates (the algorithms in PyTorch's torch.optim
docs), their option grids, and the array helpers the optimizer-kernel tests share."""
import itertools
import math
from typing import ClassVar

import numpy as np

import kernels.cuda

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
    return a if isinstance(a, np.ndarray) else kernels.cuda.xp.asnumpy(a)


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
