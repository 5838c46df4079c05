"""Fused optimizer kernels: each equals a per-tensor NumPy reference of the algorithm in PyTorch's
docs (tests/kernels/optim_reference.py) and torch.optim's trajectories; kernels.cuda (simulator or GPU)
equals kernels.cpu; bad arguments raise before anything is updated."""
import math

import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cpu.optim as cpu_optim
import kernels.cuda as KG
from tests.kernels.optim_reference import (
    ALGOS,
    CASES,
    STEPS,
    TOL,
    assert_same_state,
    case_id,
    copy_arrays,
    host,
    lr_at,
    make_arrays,
)

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
