"""Adagrad with lr decay, weight decay, an initial accumulator value and maximize (torch.optim.Adagrad).

    g = -grad if maximize else grad;  g += weight_decay * p
    clr = lr / (1 + (t-1)*lr_decay);  s += g^2;  p -= clr * g / (sqrt(s) + eps)

The update runs in the fused kernel ``K.adagrad_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_eps, check_fused, check_lr,
                                 check_weight_decay, new_scalar_state)

__all__ = ["Adagrad"]


class Adagrad(FusedOptimizer):
    """Adagrad (Duchi et al.), as torch.optim.Adagrad.

    State per param: ``step`` and ``sum`` (filled with initial_accumulator_value). As in PyTorch, the
    state of every param given to the constructor is created there, so ``state_dict()`` lists all of them
    before the first step; params added later get theirs at their first step.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        check_weight_decay(weight_decay)
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        check_eps(eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)
        for group in self.param_groups:
            spec = self._state_spec(group)
            for p in group["params"]:
                self._ensure_state(group, p, spec)

    def _state_spec(self, group):
        return [("sum", group["initial_accumulator_value"])]

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        return (bump(state, "step", by=1),)

    def _update(self, K, group, param, grad, arrays, scalars):
        K.adagrad_step(param, grad, arrays["sum"], _scalar(group["lr"]), group["lr_decay"],
                       group["weight_decay"], group["eps"], group["maximize"], scalars[0])
