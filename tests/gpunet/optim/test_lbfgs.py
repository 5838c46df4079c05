"""LBFGS on cpu and cuda: trajectories on Rosenbrock equal torch.optim.LBFGS's (fixed step and strong-Wolfe
line search), its stopping rules and state, its errors."""
import numpy as np
import pytest

import gpunet

START = [np.array([-1.2, 1.0]), np.array([[0.5, -0.3], [0.8, 1.1]])]


def rosenbrock(lib, params):
    z = lib.cat([p.reshape(-1) for p in params])
    return (100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2).sum()


def run(lib, steps, dtype="float64", device=None, start=START, **kw):
    extra = {} if device is None else {"device": device}
    params = [lib.tensor(a.astype(dtype), requires_grad=True, **extra) for a in start]
    opt = lib.optim.LBFGS(params, **kw)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(lib, params)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return losses, [p.detach().cpu().numpy().copy() for p in params], opt


@pytest.mark.parametrize("steps,kw", [
    (6, {"lr": 0.1, "history_size": 5, "max_iter": 10}),
    (6, {"lr": 1, "line_search_fn": "strong_wolfe"}),
    (3, {"lr": 1, "history_size": 3, "max_iter": 7, "line_search_fn": "strong_wolfe"}),
], ids=["fixed-step", "strong_wolfe", "strong_wolfe-short-history"])
def test_rosenbrock_matches_torch(steps, kw, device):
    torch = pytest.importorskip("torch")
    losses, params, opt = run(gpunet, steps, device=device, **kw)
    t_losses, t_params, t_opt = run(torch, steps, **kw)
    # the same decisions on the same numbers up to the last bits of the two frameworks' loss sums and dot
    # products, which Rosenbrock's curved valley amplifies through the line search (cubic steps)
    tol = 1e-10 if kw.get("line_search_fn") is None else 1e-5
    np.testing.assert_allclose(losses, t_losses, rtol=tol, atol=1e-12)
    for a, b in zip(params, t_params):
        np.testing.assert_allclose(a, b, rtol=tol, atol=1e-12)
    state, t_state = opt.state_dict()["state"][0], t_opt.state_dict()["state"][0]
    assert sorted(state) == sorted(t_state)
    for key in ("func_evals", "n_iter"):
        assert state[key] == t_state[key]
    assert len(state["old_dirs"]) == len(t_state["old_dirs"])
    d, t_d = state["d"].cpu().numpy(), t_state["d"].numpy()
    np.testing.assert_allclose(d, t_d, rtol=1e3 * tol, atol=1e3 * tol * np.abs(t_d).max())


def test_strong_wolfe_matches_torch_tightly_on_a_mild_problem(device):
    """Where rounding is not amplified, the line search's numbers agree to 1e-10."""
    torch = pytest.importorskip("torch")
    out = []
    for lib, dev in ((gpunet, device), (torch, "cpu")):
        p = lib.tensor(np.linspace(-2.0, 2.0, 7), requires_grad=True, device=dev)
        w = lib.tensor(np.linspace(1.0, 3.0, 7), device=dev)
        opt = lib.optim.LBFGS([p], lr=1, history_size=4, max_iter=6, line_search_fn="strong_wolfe")

        def closure(opt=opt, p=p, w=w):
            opt.zero_grad()
            loss = (w * (p - 0.5) ** 2).sum() + 0.05 * (p ** 4).sum()
            loss.backward()
            return loss

        losses = [float(opt.step(closure).detach()) for _ in range(2)]
        out.append((losses, p.detach().cpu().numpy().copy(), opt.state_dict()["state"][0]["func_evals"]))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10)
    assert out[0][2] == out[1][2]


def test_converges_with_strong_wolfe_float32(device):
    losses, params, _ = run(gpunet, 5, dtype="float32", device=device, lr=1, line_search_fn="strong_wolfe")
    assert losses[-1] < 1e-6 < losses[0]
    np.testing.assert_allclose(np.concatenate([p.reshape(-1) for p in params]), 1.0, atol=1e-3)


def test_stops_at_once_when_the_gradient_is_small(device):
    start = [np.ones(2), np.ones((2, 2))]  # the minimum: zero gradient
    losses, _, opt = run(gpunet, 2, device=device, start=start)
    assert losses == [0.0, 0.0]
    assert opt.state[opt.param_groups[0]["params"][0]]["func_evals"] == 2
    assert "d" not in opt.state[opt.param_groups[0]["params"][0]]


def test_max_eval_bounds_closure_calls(device):
    calls = []
    p = gpunet.tensor([-1.2, 1.0], dtype=gpunet.float64, requires_grad=True, device=device)
    opt = gpunet.optim.LBFGS([p], max_iter=100, max_eval=7)

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = rosenbrock(gpunet, [p])
        loss.backward()
        return loss

    opt.step(closure)
    assert len(calls) == 7 and opt.state[p]["func_evals"] == 7
    assert opt.param_groups[0]["max_eval"] == 7
    assert gpunet.optim.LBFGS([p], max_iter=8).param_groups[0]["max_eval"] == 10  # max_iter * 5 // 4


def test_errors(device):
    p = gpunet.zeros(2, requires_grad=True, device=device)
    opt = gpunet.optim.LBFGS([p])
    with pytest.raises(RuntimeError, match="LBFGS requires a closure"):
        opt.step(None)
    bad = gpunet.optim.LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        bad.step(lambda: (p * p).sum())
