"""Adam, with AMSGrad, L2 or decoupled weight decay, and maximize (torch.optim.Adam).

    g = -grad if maximize else grad
    decoupled_weight_decay: p *= 1 - lr*weight_decay, else g += weight_decay * p
    m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g^2;  amsgrad: v_max = max(v_max, v), used for v
    p -= lr/(1 - beta1^t) * m / (sqrt(v)/sqrt(1 - beta2^t) + eps)

The update runs in the fused kernel ``K.adam_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_betas, check_eps, check_fused, check_lr,
                                 check_weight_decay, new_scalar_state)

__all__ = ["Adam"]


class Adam(FusedOptimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam; ``decoupled_weight_decay=True`` makes it AdamW.

    State per param: ``step`` (a 0-d float32 CPU tensor), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``. ``foreach``, ``capturable``, ``differentiable`` and ``fused`` are accepted and
    kept in the param groups; every step runs the same fused kernel whatever they say.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_lr(lr)
        check_eps(eps)
        check_betas(betas)
        check_weight_decay(weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)

    def _state_spec(self, group):
        spec = [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]
        if group["amsgrad"]:
            spec.append(("max_exp_avg_sq", 0.0))
        return spec

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        return (bump(state, "step", by=1),)

    def _update(self, K, group, param, grad, arrays, scalars):
        beta1, beta2 = group["betas"]
        K.adam_step(param, grad, arrays["exp_avg"], arrays["exp_avg_sq"], arrays.get("max_exp_avg_sq"),
                    _scalar(group["lr"]), beta1, beta2, group["eps"], group["weight_decay"],
                    group["decoupled_weight_decay"], group["amsgrad"], group["maximize"], scalars[0])
