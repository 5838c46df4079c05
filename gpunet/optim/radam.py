"""RAdam (rectified Adam), optionally with decoupled weight decay (torch.optim.RAdam).

    m, v as Adam;  rho_inf = 2/(1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5: p -= lr * m/(1 - beta1^t) * sqrt(1 - beta2^t)/(sqrt(v) + eps) * r_t   (r_t the rectification)
    else:      p -= lr * m/(1 - beta1^t)

The update runs in the fused kernel ``K.radam_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_betas, check_eps, check_lr,
                                 check_weight_decay, new_scalar_state)

__all__ = ["RAdam"]


class RAdam(FusedOptimizer):
    """RAdam (Liu et al.), as torch.optim.RAdam. State per param: ``step``, ``exp_avg``, ``exp_avg_sq``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_lr(lr)
        check_eps(eps)
        check_betas(betas)
        check_weight_decay(weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        return (bump(state, "step", by=1),)

    def _update(self, K, group, param, grad, arrays, scalars):
        beta1, beta2 = group["betas"]
        K.radam_step(param, grad, arrays["exp_avg"], arrays["exp_avg_sq"], _scalar(group["lr"]), beta1, beta2,
                     group["eps"], group["weight_decay"], group["decoupled_weight_decay"], group["maximize"],
                     scalars[0])
