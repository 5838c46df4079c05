"""The flat-buffer path (the default on cpu and cuda), on both devices: O(1) kernel launches per param group,
params and state as views of flat buffers, and the same numbers as the per-tensor path when params are
frozen, rebound, added, or state is loaded or replaced. Simulated cuda uses tiny sizes."""
import copy

import numpy as np
import pytest

import gpunet
import kernels.cpu
import kernels.cuda

SHAPES = [(2, 3), (4,), (1,), (3, 1, 2), (5,)]


def make(device, shapes=SHAPES, dtype=gpunet.float64):
    rng = np.random.default_rng(3)
    return [gpunet.tensor(rng.uniform(-1, 1, s), dtype=dtype, device=device, requires_grad=True)
            for s in shapes]


def build(cls, params, flat=True, **kw):
    opt = cls(params, **kw)
    opt._flat_devices = {"cpu", "cuda"} if flat else frozenset()
    return opt


def grads(params, k, skip=()):
    for i, p in enumerate(params):
        if i in skip:
            p.grad = None
            continue
        g = np.sin(np.arange(p.numel()) * 0.7 + k + i).reshape(tuple(p.shape))
        p.grad = gpunet.tensor(g, dtype=p.dtype, device=p.device)


def host(params):
    return [p.detach().cpu().numpy().copy() for p in params]


def assert_same(a, b, exact=False):
    for x, y in zip(a, b):
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@pytest.fixture
def count_calls(monkeypatch):
    """counts[name] = number of calls of K.<name> on either device."""
    counts = {}

    def wrap(module, name):
        original = getattr(module, name)

        def counted(*args):
            counts[name] = counts.get(name, 0) + 1
            return original(*args)
        monkeypatch.setattr(module, name, counted)

    for module in (kernels.cpu, kernels.cuda):
        for name in ("adam_step", "sgd_step", "rmsprop_step"):
            wrap(module, name)
    return counts


def test_one_launch_per_group_whatever_the_tensor_count(device, count_calls, monkeypatch):
    ps = make(device, SHAPES * 3)  # 15 tensors
    extra = make(device, [(3,), (2, 2)])
    opt = build(gpunet.optim.Adam, [{"params": ps}, {"params": extra, "lr": 0.01}], lr=0.1)
    xp = ps[0].device.xp
    gathers = []
    concatenate = xp.concatenate
    for k in range(2):
        grads(ps + extra, k)
        monkeypatch.setattr(xp, "concatenate", lambda *a, **kw: gathers.append(1) or concatenate(*a, **kw))
        opt.step()
        monkeypatch.setattr(xp, "concatenate", concatenate)
    assert count_calls["adam_step"] == 2 * 2  # 2 steps x 2 groups
    # CUDA gathers each group's grads once per step; the CPU kernel reads them where they are
    assert len(gathers) == (2 * 2 if device == "cuda" else 0)
    flat = opt._flat[id(opt.param_groups[0])].buckets[0]
    for p in ps:  # params and state are views of the group's flat buffers (asked of the device's xp)
        assert xp.shares_memory(p._data, flat.flat_param)
        assert xp.shares_memory(opt.state[p]["exp_avg"]._data, flat.flat_state["exp_avg"])
        assert tuple(opt.state[p]["exp_avg"].shape) == tuple(p.shape)


def test_per_tensor_path_calls_the_kernel_per_param(count_calls):
    ps = make("cpu", SHAPES)
    opt = build(gpunet.optim.SGD, ps, flat=False, lr=0.1, momentum=0.9)
    grads(ps, 0)
    opt.step()
    assert count_calls["sgd_step"] == len(SHAPES)


def test_cpu_kernel_reads_each_grad_in_place(monkeypatch):
    ps = make("cpu", [(4,), (2, 3), (5,)])
    opt = gpunet.optim.Adam(ps, lr=0.1)
    seen = []
    original = kernels.cpu.adam_step
    monkeypatch.setattr(kernels.cpu, "adam_step", lambda *args: seen.append(args[1]) or original(*args))
    grads(ps, 0)
    opt.step()
    assert len(seen) == 1 and len(seen[0]) == len(ps)  # one call, one segment per param
    for segment, p in zip(seen[0], ps):
        assert np.shares_memory(segment, p.grad._data)


def reference_run(cls, kw, scenario, steps):
    """The same scenario on the per-tensor CPU path."""
    ps = make("cpu")
    opt = build(cls, ps, flat=False, **kw)
    for k in range(steps):
        scenario(opt, ps, k)
        opt.step()
    return host(ps), opt


def flat_run(cls, kw, scenario, steps, device):
    ps = make(device)
    opt = build(cls, ps, **kw)
    for k in range(steps):
        scenario(opt, ps, k)
        opt.step()
    return host(ps), opt


def test_frozen_params_split_the_flat_run(device, count_calls):
    def scenario(opt, ps, k):
        grads(ps, k, skip=(1, 3) if k in (1, 2) else ())

    kw = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}
    expected, _ = reference_run(gpunet.optim.SGD, kw, scenario, 4)
    count_calls.clear()
    got, _ = flat_run(gpunet.optim.SGD, kw, scenario, 4, device)
    assert_same(got, expected, exact=device == "cpu")
    # steps 0 and 3: one call for all; steps 1 and 2: three runs, params 0 | 2 | 4, around the frozen 1 and 3
    assert count_calls["sgd_step"] == 1 + 3 + 3 + 1


def test_param_rebound_by_user_is_picked_up(device):
    def scenario(opt, ps, k):
        if k == 2:
            new = ps[0].detach().cpu().numpy() * 0.5
            ps[0].data = gpunet.tensor(new, device=ps[0].device)
        grads(ps, k)

    kw = {"lr": 0.05, "amsgrad": True}
    expected, _ = reference_run(gpunet.optim.Adam, kw, scenario, 4)
    got, _ = flat_run(gpunet.optim.Adam, kw, scenario, 4, device)
    assert_same(got, expected)


def test_param_group_added_later(device, count_calls):
    def run(dev, flat):
        ps, late = make(dev), make(dev, [(2, 2), (3,)])
        opt = gpunet.optim.RMSprop(ps, lr=0.01, momentum=0.5)
        opt._flat_devices = flat
        for k in range(3):
            if k == 1:
                opt.add_param_group({"params": late, "lr": 0.02, "centered": True})
            grads(ps + (late if k >= 1 else []), k)
            opt.step()
        return host(ps + late)

    expected = run("cpu", {})
    count_calls.clear()
    assert_same(run(device, {"cpu", "cuda"}), expected, exact=device == "cpu")
    assert count_calls["rmsprop_step"] == 1 + 2 + 2


def test_load_state_dict_rebuilds_from_loaded_state(device):
    """CPU-saved state loads into the device's params and gives what the CPU path gives after the same load;
    'step' stays a CPU tensor, other state (NAdam's mu_product too, as in PyTorch) takes the param's dtype."""
    kw = {"lr": 0.05, "weight_decay": 0.1}
    ps = make("cpu")
    cpu_opt = build(gpunet.optim.NAdam, ps, flat=False, **kw)
    for k in range(2):
        grads(ps, k)
        cpu_opt.step()
    saved = copy.deepcopy(cpu_opt.state_dict())
    cpu_opt.load_state_dict(copy.deepcopy(saved))  # loaded tensors are used as they are, not copied

    dev_params = [gpunet.tensor(p.detach().numpy(), device=device, requires_grad=True) for p in ps]
    opt = build(gpunet.optim.NAdam, dev_params, **kw)
    grads(dev_params, 0)
    opt.step()  # builds flat buffers with other state, which loading must replace
    with gpunet.no_grad():  # and back to the CPU run's values, written in place into the flat buffer
        for p, q in zip(dev_params, ps):
            p.copy_(gpunet.tensor(q.detach().numpy(), device=p.device))
    opt.load_state_dict(saved)
    state = opt.state[dev_params[0]]
    assert str(state["exp_avg"].device) == str(dev_params[0].device) and str(state["step"].device) == "cpu"
    assert state["step"].dtype == gpunet.float32 and state["mu_product"].dtype == gpunet.float64
    for k in range(2, 4):
        grads(ps, k)
        cpu_opt.step()
        grads(dev_params, k)
        opt.step()
    assert_same(host(dev_params), host(ps))
    assert float(opt.state[dev_params[0]]["step"]) == 4.0


def test_state_replaced_or_cleared_by_user(device):
    def scenario(opt, ps, k):
        if k == 1:
            opt.state[ps[2]]["exp_avg"] = gpunet.zeros_like(ps[2]) + 0.5
        if k == 2:
            opt.state.clear()  # a reset: fresh state at the next step
        if k == 3:
            opt.param_groups[0]["amsgrad"] = True  # needs state the params don't have yet
        grads(ps, k)

    kw = {"lr": 0.05}
    expected, _ = reference_run(gpunet.optim.Adam, kw, scenario, 5)
    got, opt = flat_run(gpunet.optim.Adam, kw, scenario, 5, device)
    assert_same(got, expected)
    assert float(opt.state[opt.param_groups[0]["params"][0]]["step"]) == 3.0


@pytest.mark.parametrize("name", ["Adam", "NAdam"])
def test_step_counts_that_differ_or_are_edited(device, name, count_calls):
    """A bucket keeps its members' 'step' (and NAdam's 'mu_product') as views of one array and advances
    them together while they agree; a member frozen for a step, or a count edited in place or replaced,
    gives each member its own count again, as on the per-tensor path."""
    def scenario(opt, ps, k):
        grads(ps, k, skip=(1,) if k == 1 else ())
        if k == 3:
            opt.state[ps[0]]["step"] += 5  # in place, in the shared array
        if k == 4:
            opt.state[ps[3]]["step"] = gpunet.tensor(1.0)

    cls = getattr(gpunet.optim, name)
    expected, ref_opt = reference_run(cls, {"lr": 0.05}, scenario, 6)
    count_calls.clear()
    got, opt = flat_run(cls, {"lr": 0.05}, scenario, 6, device)
    assert_same(got, expected, exact=device == "cpu")
    for p, q in zip(opt.param_groups[0]["params"], ref_opt.param_groups[0]["params"]):
        for key, value in ref_opt.state[q].items():
            if value.ndim == 0:
                assert float(opt.state[p][key]) == float(value), key
    steps = [float(opt.state[p]["step"]) for p in opt.param_groups[0]["params"]]
    assert steps == [11.0, 5.0, 6.0, 3.0, 6.0]
    if name == "Adam":  # one call while the counts agree (step 0), then one per run of equal counts
        assert count_calls["adam_step"] == 1 + 2 + 3 + 3 + 5 + 5


def test_step_counts_of_a_bucket_are_views_of_one_array_with_one_version():
    ps = make("cpu")
    opt = gpunet.optim.Adam(ps, lr=0.1)
    for k in range(3):
        grads(ps, k)
        opt.step()
    steps = [opt.state[p]["step"] for p in ps]
    assert [float(s) for s in steps] == [3.0] * len(ps)
    assert all(np.shares_memory(s._data, steps[0]._data.base) for s in steps)
    versions = [s._version for s in steps]
    grads(ps, 3)
    opt.step()
    assert [s._version for s in steps] == [v + 1 for v in versions]
    assert [float(s) for s in steps] == [4.0] * len(ps)


def test_mixed_dtypes_get_one_bucket_each(device, count_calls):
    ps = make(device, [(3,), (2,)], gpunet.float32) + make(device, [(4,)], gpunet.float64)
    opt = build(gpunet.optim.SGD, ps, lr=0.1, momentum=0.9)
    grads(ps, 0)
    opt.step()
    assert count_calls["sgd_step"] == 2
    assert [p.dtype for p in ps] == [gpunet.float32, gpunet.float32, gpunet.float64]
    assert all(p.device.type == device for p in ps)


def test_duplicate_param_is_updated_twice(device):
    ps = make(device, [(3,)])
    with pytest.warns(UserWarning, match="duplicate"):
        opt = build(gpunet.optim.SGD, [ps[0], ps[0]], lr=0.1)
    ps[0].grad = gpunet.ones(3, dtype=gpunet.float64, device=ps[0].device)
    before = host(ps)[0]
    opt.step()
    np.testing.assert_allclose(host(ps)[0], before - 0.2, rtol=1e-12)


def test_non_contiguous_param_and_state_are_written_back(device):
    p = gpunet.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, device=device)
    q = gpunet.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, device=device)
    opt_p = gpunet.optim.Adam([p], lr=0.1)
    opt_q = gpunet.optim.Adam([q], lr=0.1)
    p.data = gpunet.tensor(np.arange(6.0).reshape(3, 2), device=device).t()  # a non-contiguous view
    q.data = gpunet.tensor(np.ascontiguousarray(np.arange(6.0).reshape(3, 2).T), device=device)
    assert not p.is_contiguous()
    for k in range(3):
        g = np.cos(np.arange(6.0) + k).reshape(2, 3)
        p.grad, q.grad = gpunet.tensor(g, device=device), gpunet.tensor(g, device=device)
        opt_p.step()
        opt_q.step()
    np.testing.assert_array_equal(p.detach().cpu().numpy(), q.detach().cpu().numpy())


def test_params_moved_to_cuda_after_construction_take_their_state_along():
    """model.to('cuda') after building the optimizer rebinds p.data: the next step rebuilds on the new
    device."""
    kw = {"lr": 0.05, "momentum": 0.9}
    expected, _ = reference_run(gpunet.optim.SGD, kw, lambda opt, ps, k: grads(ps, k), 3)
    ps = make("cpu")
    opt = gpunet.optim.SGD(ps, **kw)  # default layout: flat on both devices
    for k in range(3):
        if k == 1:
            for p in ps:
                p.data = p.data.to("cuda")
        grads(ps, k)
        opt.step()
    assert all(p.is_cuda and opt.state[p]["momentum_buffer"].is_cuda for p in ps)
    assert_same(host(ps), expected)
