"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (torch.optim.SGD).

    g = -grad if maximize else grad;  g += weight_decay * p
    momentum: b = g at the param's first step (no dampening), else b = momentum*b + (1-dampening)*g;
              g = g + momentum*b (nesterov) or b
    p -= lr * g

The update runs in the fused kernel ``K.sgd_step``; this file is bookkeeping only.
"""
from gpunet.optim._fused import FusedOptimizer, _scalar, check_fused, check_lr, check_weight_decay

__all__ = ["SGD"]


class SGD(FusedOptimizer):
    """Stochastic gradient descent (optionally with momentum), as torch.optim.SGD.

    State per param: ``momentum_buffer`` when momentum != 0, created at the param's first step with a grad.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        check_weight_decay(weight_decay)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)

    def _state_spec(self, group):
        return [("momentum_buffer", None)] if group["momentum"] != 0 else []

    def _advance(self, group, state):
        return ("momentum_buffer" not in state,)  # first step: the buffer starts as the gradient

    def _update(self, K, group, param, grad, arrays, scalars):
        K.sgd_step(param, grad, arrays.get("momentum_buffer"), _scalar(group["lr"]), group["momentum"],
                   group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"],
                   scalars[0])
