"""Adamax (Adam with the infinity norm), with weight decay and maximize (torch.optim.Adamax).

    g = -grad if maximize else grad;  g += weight_decay * p
    m = beta1*m + (1-beta1)*g;  u = max(beta2*u, |g| + eps);  p -= lr/(1 - beta1^t) * m / u

The update runs in the fused kernel ``K.adamax_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_betas, check_eps, check_lr,
                                 check_weight_decay, new_scalar_state)

__all__ = ["Adamax"]


class Adamax(FusedOptimizer):
    """Adamax (Kingma & Ba), as torch.optim.Adamax. State per param: ``step``, ``exp_avg``, ``exp_inf``."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        check_eps(eps)
        check_betas(betas)
        check_weight_decay(weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_inf", 0.0)]

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        return (bump(state, "step", by=1),)

    def _update(self, K, group, param, grad, arrays, scalars):
        beta1, beta2 = group["betas"]
        K.adamax_step(param, grad, arrays["exp_avg"], arrays["exp_inf"], _scalar(group["lr"]), beta1, beta2,
                      group["eps"], group["weight_decay"], group["maximize"], scalars[0])
