"""gpunet.optim.lr_scheduler on its own: known values, warnings, errors, state_dict round trips."""
import math
import pickle
import warnings

import pytest

import gpunet
from gpunet.optim import lr_scheduler
from tests.gpunet.optim.lr_scheduler_cases import (
    CONFIGS,
    LRS,
    Warm,
    _groups,
    make_opt,
    run,
    snapshot,
)


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
