"""The lr scheduler tests' shared cases: optimizers with two param groups built on either library, a
runner that steps optimizer then scheduler, and scheduler configurations the same code builds in gpunet and
in PyTorch (m = the lr_scheduler module)."""
import math

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
