"""RMSprop, centered or not, with momentum, weight decay and maximize (torch.optim.RMSprop).

    g = -grad if maximize else grad;  g += weight_decay * p
    v = alpha*v + (1-alpha)*g^2;  centered: g_avg = alpha*g_avg + (1-alpha)*g, v~ = v - g_avg^2
    d = sqrt(v~) + eps   (eps outside the square root, as PyTorch; TensorFlow puts it inside)
    momentum > 0: b = momentum*b + g/d, p -= lr*b;  else p -= lr*g/d

The update runs in the fused kernel ``K.rmsprop_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import (FusedOptimizer, _scalar, bump, check_eps, check_lr, check_weight_decay,
                                 new_scalar_state)

__all__ = ["RMSprop"]


class RMSprop(FusedOptimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop.

    State per param: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_lr(lr)
        check_eps(eps)
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        check_weight_decay(weight_decay)
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _state_spec(self, group):
        spec = [("square_avg", 0.0)]
        if group["momentum"] > 0:
            spec.append(("momentum_buffer", 0.0))
        if group["centered"]:
            spec.append(("grad_avg", 0.0))
        return spec

    def _init_scalars(self, group, param, state):
        state["step"] = new_scalar_state(0.0, group, param)

    def _advance(self, group, state):
        bump(state, "step", by=1)
        return ()  # the update does not depend on the step count

    def _update(self, K, group, param, grad, arrays, scalars):
        K.rmsprop_step(param, grad, arrays["square_avg"], arrays.get("grad_avg"),
                       arrays.get("momentum_buffer"), _scalar(group["lr"]), group["alpha"], group["eps"],
                       group["weight_decay"], group["momentum"], group["centered"], group["maximize"])
