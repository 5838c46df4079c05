"""Host-side scalar math for the fused optimizer steps, shared by kernels.cpu and kernels.cuda.

Each function turns one call's Python options into the scalar arguments of that algorithm's kernel,
in the kernel's order: bias corrections, step sizes and ``1 - beta`` are computed here once per
call in float64 (as PyTorch does on the host) and then cast to the arrays' dtype, so the kernels
do float32 math for float32 arrays. Bools stay bools. Nothing is cached: lr may change every call.
"""

import math


def _typed(ftype, values):
    return tuple(v if isinstance(v, bool) else ftype(v) for v in values)


def sgd(ftype, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step):
    """-> (lr, momentum, 1 - dampening, weight_decay, use_momentum, nesterov, maximize, first_step)."""
    return _typed(
        ftype,
        (
            lr,
            momentum,
            1.0 - dampening,
            weight_decay,
            momentum != 0,
            bool(nesterov),
            bool(maximize),
            bool(first_step),
        ),
    )


def adam(ftype, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, step):
    """-> (1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, lr / bc1, sqrt(bc2), decoupled, amsgrad,
    maximize) with bc_k = 1 - beta_k**step."""
    bias_correction1 = 1.0 - beta1**step
    bias_correction2 = 1.0 - beta2**step
    return _typed(
        ftype,
        (
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            eps,
            weight_decay,
            1.0 - lr * weight_decay,
            lr / bias_correction1,
            math.sqrt(bias_correction2),
            bool(decoupled_weight_decay),
            bool(amsgrad),
            bool(maximize),
        ),
    )


def rmsprop(ftype, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    """-> (lr, alpha, 1 - alpha, eps, weight_decay, momentum, use_momentum, centered, maximize)."""
    return _typed(
        ftype,
        (lr, alpha, 1.0 - alpha, eps, weight_decay, momentum, momentum > 0, bool(centered), bool(maximize)),
    )


def adagrad(ftype, lr, lr_decay, weight_decay, eps, maximize, step):
    """-> (clr, weight_decay, eps, maximize) with clr = lr / (1 + (step - 1) * lr_decay)."""
    clr = lr / (1.0 + (step - 1) * lr_decay)
    return _typed(ftype, (clr, weight_decay, eps, bool(maximize)))


def adadelta(ftype, lr, rho, eps, weight_decay, maximize):
    """-> (lr, rho, 1 - rho, eps, weight_decay, maximize)."""
    return _typed(ftype, (lr, rho, 1.0 - rho, eps, weight_decay, bool(maximize)))


def adamax(ftype, lr, beta1, beta2, eps, weight_decay, maximize, step):
    """-> (1 - beta1, beta2, eps, weight_decay, lr / (1 - beta1**step), maximize)."""
    clr = lr / (1.0 - beta1**step)
    return _typed(ftype, (1.0 - beta1, beta2, eps, weight_decay, clr, bool(maximize)))


def nadam(
    ftype,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled_weight_decay,
    maximize,
    mu,
    mu_next,
    mu_product,
    mu_product_next,
    step,
):
    """-> (1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, 1 - beta2**step,
    lr*(1 - mu)/(1 - mu_product), lr*mu_next/(1 - mu_product_next), decoupled, maximize).

    The caller's schedule (PyTorch's, momentum_decay psi = 0.004 by default):
    mu_t = beta1 * (1 - 0.5 * 0.96**(t*psi)), mu_next = mu_{t+1}, mu_product = prod_{i<=t} mu_i
    (including mu_t), mu_product_next = mu_product * mu_next.
    """
    grad_coef = lr * (1.0 - mu) / (1.0 - mu_product)
    avg_coef = lr * mu_next / (1.0 - mu_product_next)
    return _typed(
        ftype,
        (
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            eps,
            weight_decay,
            1.0 - lr * weight_decay,
            1.0 - beta2**step,
            grad_coef,
            avg_coef,
            bool(decoupled_weight_decay),
            bool(maximize),
        ),
    )


def radam(ftype, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, step):
    """-> (lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, 1 - beta1**step, sqrt(1 - beta2**step),
    rect, rectified, decoupled, maximize).

    rho_inf = 2/(1 - beta2) - 1, rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t);
    rectified = rho_t > 5, rect = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)).
    """
    bias_correction1 = 1.0 - beta1**step
    bias_correction2 = 1.0 - beta2**step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2**step) / bias_correction2
    rectified = rho_t > 5.0
    rect = 1.0
    if rectified:
        rect = math.sqrt(
            (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        )
    return _typed(
        ftype,
        (
            lr,
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            eps,
            weight_decay,
            1.0 - lr * weight_decay,
            bias_correction1,
            math.sqrt(bias_correction2),
            rect,
            bool(rectified),
            bool(decoupled_weight_decay),
            bool(maximize),
        ),
    )
