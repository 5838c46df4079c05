"""gpunet.optim.lr_scheduler against PyTorch: lr sequences, resume/save/load, warnings, state_dict keys.

The comparisons build torch.optim.SGD/Adam with the same param groups on dummy parameters and step both
sides in lockstep (optimizer.step() then scheduler.step()).
"""
import pickle
import warnings

import pytest

import gpunet
from gpunet.optim import lr_scheduler
from tests.gpunet.optim.lr_scheduler_cases import (
    CONFIGS,
    EPOCHS,
    LRS,
    RESUME_AT,
    assert_close,
    make_opt,
    run,
    snapshot,
)


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
