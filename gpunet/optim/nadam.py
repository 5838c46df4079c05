"""NAdam (Adam with Nesterov momentum and a momentum schedule), optionally NAdamW (torch.optim.NAdam).

Momentum schedule, computed here on the host per step t (PyTorch's NAdam docs):
    mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))
    mu_product = mu_1 * ... * mu_t  (state 'mu_product')
Update (fused kernel ``K.nadam_step``):
    decoupled_weight_decay: p *= 1 - lr*weight_decay, else g += weight_decay * p
    m, v as Adam;  d = sqrt(v / (1 - beta2^t)) + eps
    p -= lr*(1 - mu_t)/(1 - mu_product) * g/d + lr*mu_{t+1}/(1 - mu_product*mu_{t+1}) * m/d
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_betas, check_eps, check_lr,
                                 check_weight_decay, new_scalar_state)

__all__ = ["NAdam"]


class NAdam(FusedOptimizer):
    """NAdam (Dozat), as torch.optim.NAdam.

    State per param: ``step``, ``mu_product`` (a 0-d tensor in PyTorch's scalar dtype, float32 by default,
    multiplied in that dtype as PyTorch does), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_lr(lr)
        check_eps(eps)
        check_betas(betas)
        check_weight_decay(weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)
        state["mu_product"] = new_scalar_state(1.0, group, param)

    def _advance(self, group, state):
        step = bump(state, "step", by=1)
        beta1, psi = group["betas"][0], group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = bump(state, "mu_product", times=mu)
        return (step, mu, mu_next, mu_product, mu_product * mu_next)

    def _update(self, K, group, param, grad, arrays, scalars):
        beta1, beta2 = group["betas"]
        step, mu, mu_next, mu_product, mu_product_next = scalars
        K.nadam_step(param, grad, arrays["exp_avg"], arrays["exp_avg_sq"], _scalar(group["lr"]), beta1, beta2,
                     group["eps"], group["weight_decay"], group["decoupled_weight_decay"], group["maximize"],
                     mu, mu_next, mu_product, mu_product_next, step)
