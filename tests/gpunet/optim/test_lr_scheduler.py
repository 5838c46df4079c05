"""gpunet.optim.lr_scheduler: lr sequences equal PyTorch's, resume/save/load, warnings, errors.

The PyTorch comparisons build torch.optim.SGD/Adam with the same param groups on dummy parameters and
step both sides in lockstep (optimizer.step() then scheduler.step()).
"""
import math
import pickle
import warnings

import pytest

import gpunet
from gpunet.optim import lr_scheduler

LRS = (0.1, 0.05)  # two param groups with different lrs
EPOCHS = 100
RESUME_AT = 37


# ---- building optimizers on either side ------------------------------------------------------------
def _groups(lib, lrs):
    return [{"params": [lib.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]


def make_opt(lib, lrs=LRS, kind="sgd"):
    """SGD(momentum=0.9) or Adam over one dummy parameter per group, for gpunet or torch."""
    if kind == "adam":
        return lib.optim.Adam(_groups(lib, lrs), lr=lrs[0])
    return lib.optim.SGD(_groups(lib, lrs), lr=lrs[0], momentum=0.9)


def snapshot(opt):
    """The hyperparameters a scheduler may write, per group."""
    out = []
    for g in opt.param_groups:
        row = [g["lr"]]
        if "momentum" in g:
            row.append(g["momentum"])
        if "betas" in g:
            row.extend(g["betas"])
        out.append(row)
    return out


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flat(item)]
    return [float(x)]


def assert_close(a, b, where=""):
    """Nested lists of numbers equal to 1e-12 relative (and identical in structure)."""
    fa, fb = _flat(a), _flat(b)
    assert len(fa) == len(fb), where
    for i, (x, y) in enumerate(zip(fa, fb)):
        assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15), f"{where}: item {i}: {x} != {y}"


def run(lib, make_sched, epochs=EPOCHS, kind="sgd", opt=None):
    """Snapshots at construction and after each of `epochs` (optimizer.step(); scheduler.step())."""
    opt = opt or make_opt(lib, kind=kind)
    sched = make_sched(lib.optim.lr_scheduler, opt)
    seq = [snapshot(opt)]
    for _ in range(epochs):
        opt.step()
        sched.step()
        seq.append(snapshot(opt))
        assert [float(x) for x in sched.get_last_lr()] == [float(g["lr"]) for g in opt.param_groups]
    return seq, opt, sched


# ---- scheduler configurations: the same code builds gpunet's and torch's (m = the lr_scheduler module) ----
class Warm:
    """A callable object: LambdaLR.state_dict saves its __dict__ (plain functions are not saved)."""

    def __init__(self, warm):
        self.warm = warm

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.warm)


CONFIGS = {
    "lambda": lambda m, o, **kw: m.LambdaLR(o, lambda e: 0.95 ** e, **kw),
    "lambda_per_group": lambda m, o, **kw: m.LambdaLR(o, [lambda e: 1.0 / (e + 1), Warm(10)], **kw),
    "multiplicative": lambda m, o, **kw: m.MultiplicativeLR(o, lambda e: 0.97, **kw),
    "multiplicative_per_group": lambda m, o, **kw: m.MultiplicativeLR(o, [lambda e: 0.99,
                                                                          lambda e: 1 - e / 1000],
                                                                      **kw),
    "step": lambda m, o, **kw: m.StepLR(o, step_size=10, gamma=0.5, **kw),
    "step_default_gamma": lambda m, o, **kw: m.StepLR(o, 3, **kw),
    "multistep": lambda m, o, **kw: m.MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.5, **kw),
    "multistep_unsorted": lambda m, o, **kw: m.MultiStepLR(o, [80, 5], **kw),
    "constant": lambda m, o, **kw: m.ConstantLR(o, factor=0.5, total_iters=4, **kw),
    "constant_default": lambda m, o, **kw: m.ConstantLR(o, **kw),
    "linear_warmup": lambda m, o, **kw: m.LinearLR(o, start_factor=0.25, total_iters=10, **kw),
    "linear_decay": lambda m, o, **kw: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=30, **kw),
    "exponential": lambda m, o, **kw: m.ExponentialLR(o, gamma=0.97, **kw),
    "polynomial": lambda m, o, **kw: m.PolynomialLR(o, total_iters=40, power=2.0, **kw),
    "polynomial_default": lambda m, o, **kw: m.PolynomialLR(o, **kw),
    "cosine": lambda m, o, **kw: m.CosineAnnealingLR(o, T_max=20, **kw),
    "cosine_eta_min": lambda m, o, **kw: m.CosineAnnealingLR(o, T_max=30, eta_min=0.001, **kw),
    "cosine_short": lambda m, o, **kw: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01, **kw),
    "warm_restarts": lambda m, o, **kw: m.CosineAnnealingWarmRestarts(o, T_0=10, **kw),
    "warm_restarts_mult": lambda m, o, **kw: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3,
                                                                           **kw),
    "cyclic_triangular": lambda m, o, **kw: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7, **kw),
    "cyclic_triangular2": lambda m, o, **kw: m.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=6,
                                                        step_size_down=3, mode="triangular2",
                                                        base_momentum=[0.8, 0.7], **kw),
    "cyclic_exp_range": lambda m, o, **kw: m.CyclicLR(o, 0.01, 0.1, step_size_up=5, mode="exp_range",
                                                      gamma=0.98,
                                                      cycle_momentum=False, **kw),
    "cyclic_scale_fn": lambda m, o, **kw: m.CyclicLR(o, 0.01, 0.1, step_size_up=4,
                                                     scale_fn=lambda x: 0.99 ** x,
                                                     scale_mode="iterations", **kw),
    "one_cycle": lambda m, o, **kw: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=EPOCHS, **kw),
    "one_cycle_linear": lambda m, o, **kw: m.OneCycleLR(o, max_lr=1.0, epochs=10, steps_per_epoch=10,
                                                        pct_start=0.25, anneal_strategy="linear",
                                                        div_factor=10.0,
                                                        final_div_factor=100.0, **kw),
    "one_cycle_three_phase": lambda m, o, **kw: m.OneCycleLR(o, max_lr=0.3, total_steps=EPOCHS + 20,
                                                             three_phase=True, base_momentum=0.8,
                                                             max_momentum=[0.9, 0.95], **kw),
    "sequential": lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                                  m.CosineAnnealingLR(o, T_max=30)], milestones=[5]),
    "sequential_three": lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=3),
                                                        m.ExponentialLR(o, gamma=0.9),
                                                        m.StepLR(o, step_size=7, gamma=0.5)],
                                                    milestones=[10, 40]),
    "chained": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=20),
                                                m.ExponentialLR(o, gamma=0.9)], optimizer=o),
    "chained_three": lambda m, o: m.ChainedScheduler([m.LinearLR(o, start_factor=0.5, total_iters=8),
                                                      m.MultiStepLR(o, [20, 50]),
                                                      m.CosineAnnealingLR(o, T_max=25)]),
}


# ---- against PyTorch -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sequence_and_save_load_match_torch(name):
    torch = pytest.importorskip("torch")
    make = CONFIGS[name]
    expected, _, _ = run(torch, make)
    got, _, _ = run(gpunet, make)
    assert_close(got, expected, name)

    # save at RESUME_AT, build a fresh optimizer + scheduler, load both states, continue to EPOCHS
    head, opt, sched = run(gpunet, make, epochs=RESUME_AT)
    saved = pickle.loads(pickle.dumps(sched.state_dict()))  # picklable: no optimizer, no plain lambdas
    opt_state = opt.state_dict()
    opt2 = make_opt(gpunet)
    sched2 = make(lr_scheduler, opt2)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(saved)
    for _ in range(EPOCHS - RESUME_AT):
        opt2.step()
        sched2.step()
        head.append(snapshot(opt2))
    assert_close(head, expected, name + " after save/load")


@pytest.mark.parametrize("name", ["one_cycle", "one_cycle_three_phase", "cyclic_triangular2"])
def test_momentum_cycles_beta1_of_adam_like_torch(name):
    torch = pytest.importorskip("torch")
    expected, _, _ = run(torch, CONFIGS[name], kind="adam")
    got, opt, _ = run(gpunet, CONFIGS[name], kind="adam")
    assert_close(got, expected, name)
    assert all(g["betas"][1] == 0.999 for g in opt.param_groups)  # only beta1 cycles
    assert len({snap[0][1] for snap in got[:30]}) > 5  # beta1 really moves


def _resumable_opt(lib, name):
    """An optimizer as a checkpoint leaves it: current lrs differ from initial_lr, scheduler keys present."""
    opt = make_opt(lib, lrs=(0.07, 0.03))
    for g, initial in zip(opt.param_groups, LRS):
        g["initial_lr"] = initial
    if name.startswith("one_cycle"):  # OneCycleLR resumes from the keys its constructor wrote
        for g, max_lr in zip(opt.param_groups, (0.5, 0.2)):
            g.update(initial_lr=max_lr / 25.0, max_lr=max_lr, min_lr=max_lr / 25.0 / 1e4,
                     max_momentum=0.95, base_momentum=0.85)
    if name.startswith("cyclic"):
        for g in opt.param_groups:
            g.update(max_momentum=0.9, base_momentum=0.8)
    return opt


RESUMABLE = ["step", "multistep", "exponential", "cosine", "cosine_eta_min", "polynomial", "linear_warmup",
             "constant", "multiplicative", "lambda", "warm_restarts", "warm_restarts_mult",
             "cyclic_triangular", "one_cycle"]


@pytest.mark.parametrize("name", RESUMABLE)
@pytest.mark.parametrize("last_epoch", [0, 3, 9, 21])
def test_construct_with_last_epoch_matches_torch(name, last_epoch):
    torch = pytest.importorskip("torch")

    def make(m, o):
        return CONFIGS[name](m, o, last_epoch=last_epoch)

    expected, _, t_sched = run(torch, make, epochs=30, opt=_resumable_opt(torch, name))
    got, _, sched = run(gpunet, make, epochs=30, opt=_resumable_opt(gpunet, name))
    assert_close(got, expected, f"{name} last_epoch={last_epoch}")
    assert sched.last_epoch == t_sched.last_epoch
    assert sched.base_lrs == pytest.approx(t_sched.base_lrs, rel=1e-12)


def test_two_schedulers_on_one_optimizer_chain_like_torch():
    torch = pytest.importorskip("torch")

    def record(lib):
        opt = make_opt(lib)
        m = lib.optim.lr_scheduler
        s1, s2 = m.ExponentialLR(opt, gamma=0.95), m.MultiStepLR(opt, milestones=[5, 12], gamma=0.3)
        s3 = m.CosineAnnealingLR(opt, T_max=15, eta_min=0.001)
        out = []
        for _ in range(40):
            opt.step()
            s1.step()
            s2.step()
            s3.step()
            out.append(snapshot(opt))
        return out

    assert_close(record(gpunet), record(torch), "exp+multistep+cosine")


@pytest.mark.parametrize("name,epochs", [("step", [0, 5, 10, 25, 3]), ("multistep", [12, 31, 30, 61, 0]),
                                         ("exponential", [4, 2, 9]), ("cosine", [5, 30, 41, 0]),
                                         ("polynomial", [10, 50, 3]), ("linear_warmup", [2, 20, 7]),
                                         ("constant", [1, 6, 2]),
                                         ("warm_restarts_mult", [0.5, 7.25, 16, 40.9, 3]),
                                         ("lambda", [3, 8]), ("cyclic_triangular", [3, 11, 30])])
def test_step_with_epoch_uses_closed_form_like_torch(name, epochs):
    torch = pytest.importorskip("torch")

    def record(lib):
        opt = make_opt(lib)
        sched = CONFIGS[name](lib.optim.lr_scheduler, opt)
        out = []
        for epoch in epochs:
            opt.step()
            if name.startswith("warm_restarts"):  # takes fractional epochs, does not warn (as PyTorch)
                sched.step(epoch)
            else:
                with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
                    sched.step(epoch)
            out.append(snapshot(opt))
            opt.step()
            sched.step()
            out.append(snapshot(opt))
        return out

    assert_close(record(gpunet), record(torch), name)


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89999, 1.2, 0.5, 0.5, 0.6, 0.7, 0.8, 0.4, 0.41, 0.42, 0.43, 0.44,
           0.45, 0.46, 0.47, 0.48, 0.49] + [0.5] * 30


@pytest.mark.parametrize("kwargs", [{}, {"patience": 2}, {"patience": 0, "factor": 0.5, "min_lr": 0.01},
                                    {"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": [0.02, 0.001]},
                                    {"mode": "max", "patience": 1, "threshold": 0.05,
                                     "threshold_mode": "abs"},
                                    {"mode": "max", "patience": 2, "threshold": 0.1, "cooldown": 1},
                                    {"patience": 0, "factor": 0.5, "threshold_mode": "abs", "eps": 0.02}])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")

    def record(lib, resume_at=None):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for i, metric in enumerate(METRICS):
            if i == resume_at:
                state, opt_state = pickle.loads(pickle.dumps(sched.state_dict())), opt.state_dict()
                opt = make_opt(lib)
                sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
                opt.load_state_dict(opt_state)
                sched.load_state_dict(state)
            opt.step()
            sched.step(lib.tensor(metric) if i % 3 == 0 else metric)  # a 0-d tensor works as well
            out.append(snapshot(opt) + [[sched.num_bad_epochs, sched.cooldown_counter, sched.best]])
            assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        return out

    expected = record(torch)
    assert_close(record(gpunet), expected, str(kwargs))
    assert_close(record(gpunet, resume_at=11), expected, str(kwargs) + " resumed")
    # the sequence is not trivial: at least one reduction happened
    assert expected[-1][0][0] < LRS[0]


def test_warning_texts_equal_torch():
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (gpunet, torch):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, 3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()
            sched.get_lr()
            sched.step(5)
        messages.append([str(w.message) for w in caught])
    assert len(messages[0]) == 3
    assert messages[0] == messages[1]


@pytest.mark.parametrize("name", ["step", "warm_restarts", "cyclic_triangular", "one_cycle", "sequential",
                                  "chained", "lambda"])
def test_step_order_warnings_per_scheduler_equal_torch(name):
    """Scheduler stepped before the optimizer: the same warnings as PyTorch (composites warn per child,
    CosineAnnealingWarmRestarts never warns), and none once the optimizer has stepped."""
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (gpunet, torch):
        opt = make_opt(lib)
        sched = CONFIGS[name](lib.optim.lr_scheduler, opt)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()
            opt.step()
            sched.step()
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1]


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    for name in ["step", "lambda_per_group", "cyclic_scale_fn", "one_cycle", "sequential", "chained"]:
        keys = []
        for lib in (gpunet, torch):
            sched = CONFIGS[name](lib.optim.lr_scheduler, make_opt(lib))
            keys.append(set(sched.state_dict()) - {"_get_lr_called_within_step", "_is_initial"})
        assert keys[0] == keys[1], name


# ---- known values, no PyTorch needed -----------------------------------------------------------------
def lrs_over(make, epochs, lrs=LRS):
    opt = make_opt(gpunet, lrs=lrs)
    sched = make(lr_scheduler, opt)
    out = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
    return out, opt, sched


def test_steplr_sequence_is_closed_form():
    seq, opt, sched = lrs_over(lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 12)
    for epoch, lrs in enumerate(seq):
        assert lrs == pytest.approx([lr * 0.5 ** (epoch // 3) for lr in LRS], rel=1e-15)
    assert sched.last_epoch == 12 and sched.base_lrs == list(LRS)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)


def test_multisteplr_repeated_milestone_applies_gamma_twice():
    seq, _, _ = lrs_over(lambda m, o: m.MultiStepLR(o, [2, 4, 4], gamma=0.1), 6, lrs=(1.0,))
    assert [lrs[0] for lrs in seq] == pytest.approx([1, 1, 0.1, 0.1, 0.001, 0.001, 0.001], rel=1e-12)


def test_exponential_linear_constant_polynomial_known_values():
    seq, _, _ = lrs_over(lambda m, o: m.ExponentialLR(o, 0.9), 5, lrs=(1.0,))
    assert [x[0] for x in seq] == pytest.approx([0.9 ** e for e in range(6)], rel=1e-12)
    seq, _, _ = lrs_over(lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=3), 5, lrs=(1.0,))
    assert [x[0] for x in seq] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rel=1e-12)
    seq, _, _ = lrs_over(lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=2), 4, lrs=(1.0,))
    assert [x[0] for x in seq] == pytest.approx([0.5, 0.5, 1.0, 1.0, 1.0], rel=1e-12)
    seq, _, _ = lrs_over(lambda m, o: m.PolynomialLR(o, total_iters=4, power=2.0), 6, lrs=(1.0,))
    assert [x[0] for x in seq] == pytest.approx([1, 0.5625, 0.25, 0.0625, 0, 0, 0], abs=1e-15)


def test_cosine_follows_closed_form_and_is_periodic_past_t_max():
    T_max, eta_min = 10, 0.01
    seq, _, _ = lrs_over(lambda m, o: m.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min), 45)
    for epoch, lrs in enumerate(seq):
        for lr, base in zip(lrs, LRS):
            closed = eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2
            assert lr == pytest.approx(closed, rel=1e-9, abs=1e-15)
    assert seq[10][0] == pytest.approx(eta_min) and seq[20][0] == pytest.approx(LRS[0])


def test_warm_restarts_restart_and_fractional_epochs():
    seq, _, sched = lrs_over(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2), 13, lrs=(1.0,))
    lrs = [x[0] for x in seq]
    assert lrs[0] == lrs[4] == lrs[12] == 1.0  # restarts at 4 and 4 + 8
    assert lrs[6] == pytest.approx((1 + math.cos(math.pi * 2 / 8)) / 2)
    sched.step(5.5)  # fractional: T_cur = 1.5 in the 8-epoch cycle
    assert sched.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 1.5 / 8)) / 2)
    assert sched.last_epoch == 5
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched.step(-1)


def test_cyclic_triangular_shape_and_momentum():
    seq, opt, sched = lrs_over(lambda m, o: m.CyclicLR(o, 0.0, 1.0, step_size_up=2, step_size_down=2), 8,
                               lrs=(5,))
    assert [x[0] for x in seq] == pytest.approx([0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0])
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9)  # inverse: lr at base -> max_momentum
    opt.step()
    sched.step()
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.85)


def test_one_cycle_endpoints_and_step_past_total_raises():
    seq, opt, sched = lrs_over(lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.3), 10,
                               lrs=(1.0,))
    lrs = [x[0] for x in seq]
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert lrs[2] == pytest.approx(1.0) and max(lrs) == lrs[2]
    assert lrs[9] == pytest.approx(1.0 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] > 0.9  # back towards max_momentum at the end
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        sched.step()


def test_reduce_on_plateau_known_sequence_with_cooldown_and_min_lr():
    opt = make_opt(gpunet, lrs=(1.0, 0.1))
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=2, factor=0.5, min_lr=[0.2, 0.05])
    lrs = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3]:
        opt.step()
        sched.step(metric)
        lrs.append(sched.get_last_lr())
    # bad epochs: 2 at epoch 3 -> reduce; 2 cooldown epochs; 2 bad -> reduce (hits min_lr of group 1)...
    assert [x[0] for x in lrs] == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert [x[1] for x in lrs] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert sched.best == 3 and sched.last_epoch == 12


def test_reduce_on_plateau_errors():
    opt = make_opt(gpunet)
    with pytest.raises(ValueError, match=r"Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])
    with pytest.raises(ValueError, match="mode top is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="top")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="x")


def test_step_order_warning_only_when_scheduler_steps_first():
    opt = make_opt(gpunet)
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before "
                                         r"`optimizer.step\(\)`"):
        sched.step()
    opt.step()
    sched.step()  # no second warning (pytest turns warnings into errors)

    opt = make_opt(gpunet)
    sched = lr_scheduler.ExponentialLR(opt, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            sched.step()
    # the optimizer's own counter is what is checked: step() is not wrapped
    assert opt._step_count == 3 and "step" not in vars(opt)


def test_get_lr_outside_step_warns_and_deprecated_epoch_warns():
    opt = make_opt(gpunet)
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        sched.get_lr()
    opt.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched.step(4)
    assert sched.get_last_lr() == pytest.approx([lr * 0.01 for lr in LRS])


def test_resume_without_initial_lr_raises_key_error():
    opt = make_opt(gpunet)
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\] when "
                                       r"resuming"):
        lr_scheduler.StepLR(opt, 3, last_epoch=5)


def test_lambda_state_dict_keeps_callable_objects_only():
    opt = make_opt(gpunet)
    warm = Warm(10)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, warm])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"warm": 10}]
    assert "optimizer" not in state
    pickle.dumps(state)
    warm.warm = 3
    sched.load_state_dict(state)
    assert warm.warm == 10 and state["lr_lambdas"] == [None, {"warm": 10}]  # caller's dict unchanged


def test_per_group_lambdas_and_lengths():
    opt = make_opt(gpunet)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got float"):
        lr_scheduler.MultiplicativeLR(opt, 0.5)
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer.param_groups"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)


def test_validation_errors():
    opt = make_opt(gpunet)
    m = lr_scheduler
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        m.StepLR([], 3)
    with pytest.raises(ValueError, match="Constant multiplicative factor expected to be between 0 and 1."):
        m.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="Starting multiplicative factor expected to be greater than 0"):
        m.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor expected to be between 0 and 1."):
        m.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        m.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 1.5"):
        m.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        m.CyclicLR(opt, 0.1, 1.0, mode="zigzag")
    with pytest.raises(ValueError, match=r"You must define either total_steps OR \(epochs AND "
                                         r"steps_per_epoch\)"):
        m.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Expected positive integer total_steps, but got 0"):
        m.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="Expected float between 0 and 1 pct_start, but got 1.5"):
        m.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear', instead got sin"):
        m.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="sin")


def test_cycle_momentum_needs_momentum_or_betas():
    opt = gpunet.optim.Adagrad(_groups(gpunet, LRS))
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1 with `cycle_momentum`"):
        lr_scheduler.CyclicLR(opt, 0.1, 1.0)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1 with `cycle_momentum`"):
        lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10)
    lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10, cycle_momentum=False)


def test_sequential_and_chained_validation():
    opt, other = make_opt(gpunet), make_opt(gpunet)
    m = lr_scheduler
    s1, s2 = m.ConstantLR(opt), m.ExponentialLR(opt, 0.9)
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more than the "
                                         "number"):
        m.SequentialLR(opt, [s1, s2], milestones=[2, 5])
    with pytest.raises(ValueError, match="SequentialLR expects at least one scheduler, but got no scheduler"):
        m.SequentialLR(opt, [], milestones=[])
    foreign = m.StepLR(other, 2)
    with pytest.raises(ValueError, match="SequentialLR expects all schedulers to belong to the same "
                                         "optimizer, but got scheduler StepLR at index 1"):
        m.SequentialLR(opt, [s1, foreign], milestones=[3])
    with pytest.raises(ValueError, match="ChainedScheduler expects all schedulers to belong to the same "
                                         "optimizer"):
        m.ChainedScheduler([s1, foreign])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau` scheduler"):
        m.ChainedScheduler([s1, m.ReduceLROnPlateau(opt)])
    with pytest.raises(TypeError, match="ChainedScheduler at index 0 should have `optimizer` as its "
                                        "attribute."):
        m.ChainedScheduler([object()], optimizer=opt)
    with pytest.raises(ValueError, match="ChainedScheduler expects at least one scheduler to be chained"):
        m.ChainedScheduler([])


def test_sequential_warmup_then_cosine_known_values():
    seq, _, _ = lrs_over(lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.5, total_iters=2),
                                                          m.ExponentialLR(o, gamma=0.5)], milestones=[3]), 5,
                         lrs=(1.0,))
    assert [x[0] for x in seq] == pytest.approx([0.5, 0.75, 1.0, 1.0, 0.5, 0.25])


def test_base_class_contract_and_aliases():
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)
    assert lr_scheduler._LRScheduler.__name__ == "_LRScheduler"
    assert gpunet.optim.lr_scheduler.StepLR is lr_scheduler.StepLR

    class Halving(lr_scheduler.LRScheduler):  # a user-defined chainable scheduler
        def get_lr(self):
            if self.last_epoch == 0:
                return [g["lr"] for g in self.optimizer.param_groups]
            return [g["lr"] / 2 for g in self.optimizer.param_groups]

    seq, _, sched = lrs_over(lambda m, o: Halving(o), 3, lrs=(1.0,))
    assert [x[0] for x in seq] == [1.0, 0.5, 0.25, 0.125]
    with pytest.raises(NotImplementedError):
        lr_scheduler.LRScheduler.get_lr(sched)


def test_step_order_check_works_for_user_optimizer_subclasses():
    class PlainSGD(gpunet.optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):  # no call to super().step(): the base class still counts
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data.add_(p.grad, alpha=-group["lr"])

    opt = PlainSGD([gpunet.zeros(1, requires_grad=True)], lr=0.1)
    sched = lr_scheduler.ExponentialLR(opt, 0.5)
    opt.step()
    sched.step()  # right order: no warning
    opt2 = PlainSGD([gpunet.zeros(1, requires_grad=True)], lr=0.1)
    sched2 = lr_scheduler.ExponentialLR(opt2, 0.5)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step"):
        sched2.step()
    assert sched.get_last_lr() == sched2.get_last_lr() == [0.05]


def test_tensor_lr_is_updated_in_place():
    lr = gpunet.tensor(0.1, dtype=gpunet.float64)
    opt = gpunet.optim.SGD([gpunet.zeros(2, requires_grad=True)], lr=lr)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(4):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] is lr  # the same tensor, filled in place
    assert lr.item() == pytest.approx(0.025)
    last = sched.get_last_lr()[0]
    assert last is not lr and last.item() == pytest.approx(0.025)  # a copy, never an alias
    assert sched.base_lrs[0].item() == pytest.approx(0.1) and sched.base_lrs[0] is not lr


def test_state_dict_round_trips_through_gpunet_save(tmp_path):
    path = str(tmp_path / "sched.pt")
    for name in ["multistep", "cyclic_triangular2", "one_cycle", "sequential_three", "chained",
                 "lambda_per_group"]:
        _, opt, sched = run(gpunet, CONFIGS[name], epochs=12)
        gpunet.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)
        ckpt = gpunet.load(path)
        opt2 = make_opt(gpunet)
        sched2 = CONFIGS[name](lr_scheduler, opt2)
        opt2.load_state_dict(ckpt["optimizer"])
        sched2.load_state_dict(ckpt["scheduler"])
        for _ in range(20):
            for o, s in ((opt, sched), (opt2, sched2)):
                o.step()
                s.step()
            assert snapshot(opt2) == snapshot(opt), name
    opt = make_opt(gpunet)
    sched = lr_scheduler.MultiStepLR(opt, [3, 3, 8])
    gpunet.save(sched.state_dict(), path)
    sched.load_state_dict(gpunet.load(path))
    opt.step()
    with pytest.warns(UserWarning, match="The epoch parameter"):
        sched.step(9)  # the closed form needs the milestones Counter back
    assert sched.get_last_lr() == pytest.approx([lr * 0.001 for lr in LRS])
