"""Adadelta with weight decay and maximize (torch.optim.Adadelta).

    g = -grad if maximize else grad;  g += weight_decay * p
    v = rho*v + (1-rho)*g^2;  dx = sqrt(u + eps) / sqrt(v + eps) * g;  u = rho*u + (1-rho)*dx^2;  p -= lr*dx

The update runs in the fused kernel ``K.adadelta_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_eps, check_lr, check_weight_decay,
                                 new_scalar_state)

__all__ = ["Adadelta"]


class Adadelta(FusedOptimizer):
    """Adadelta (Zeiler), as torch.optim.Adadelta.

    State per param: ``step``, ``square_avg``, ``acc_delta``.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_eps(eps)
        check_weight_decay(weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _state_spec(self, group):
        return [("square_avg", 0.0), ("acc_delta", 0.0)]

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        bump(state, "step", by=1)
        return ()  # the update does not depend on the step count

    def _update(self, K, group, param, grad, arrays, scalars):
        K.adadelta_step(param, grad, arrays["square_avg"], arrays["acc_delta"], _scalar(group["lr"]),
                        group["rho"], group["eps"], group["weight_decay"], group["maximize"])
