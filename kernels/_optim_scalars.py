"""Host-side scalar math for the fused optimizer steps, shared by kernels.cpu and kernels.cuda.

Each function turns one call's Python options into that algorithm's kernel scalars, in the kernel's
argument order, as (floats, bools): bias corrections, step sizes and ``1 - beta`` are computed here
once per call in float64 (as PyTorch does on the host). The floats reach the kernels in the arrays'
dtype, so float32 arrays get float32 math: ``packed`` (one small array, cheapest to pass to a CPU
kernel) or ``unpacked`` (one argument each, passed by value to a CUDA kernel). Nothing is cached: lr
may change between calls.
"""
import math

import numpy as np


def packed(dtype, scalars):
    """(floats, bools) -> (array of the floats in dtype, *bools)."""
    floats, bools = scalars
    return (np.array(floats, dtype), *bools)


def unpacked(dtype, scalars):
    """(floats, bools) -> (*floats cast to dtype, *bools)."""
    floats, bools = scalars
    return (*map(dtype.type, floats), *bools)


def sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, first_step):
    """(lr, momentum, 1 - dampening, weight_decay), (use_momentum, nesterov, maximize, first_step)."""
    return ((lr, momentum, 1.0 - dampening, weight_decay),
            (momentum != 0, bool(nesterov), bool(maximize), bool(first_step)))


def adam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, step):
    """(1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, lr/bc1, sqrt(bc2)),
    (decoupled, amsgrad, maximize), with bc_k = 1 - beta_k**step."""
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    return ((1.0 - beta1, beta2, 1.0 - beta2, eps, weight_decay, 1.0 - lr * weight_decay,
             lr / bias_correction1, math.sqrt(bias_correction2)),
            (bool(decoupled_weight_decay), bool(amsgrad), bool(maximize)))


def rmsprop(lr, alpha, eps, weight_decay, momentum, centered, maximize):
    """(lr, alpha, 1 - alpha, eps, weight_decay, momentum), (use_momentum, centered, maximize)."""
    return ((lr, alpha, 1.0 - alpha, eps, weight_decay, momentum),
            (momentum > 0, bool(centered), bool(maximize)))


def adagrad(lr, lr_decay, weight_decay, eps, maximize, step):
    """(clr, weight_decay, eps), (maximize,), with clr = lr / (1 + (step - 1) * lr_decay)."""
    clr = lr / (1.0 + (step - 1) * lr_decay)
    return (clr, weight_decay, eps), (bool(maximize),)


def adadelta(lr, rho, eps, weight_decay, maximize):
    """(lr, rho, 1 - rho, eps, weight_decay), (maximize,)."""
    return (lr, rho, 1.0 - rho, eps, weight_decay), (bool(maximize),)


def adamax(lr, beta1, beta2, eps, weight_decay, maximize, step):
    """(1 - beta1, beta2, eps, weight_decay, lr / (1 - beta1**step)), (maximize,)."""
    clr = lr / (1.0 - beta1 ** step)
    return (1.0 - beta1, beta2, eps, weight_decay, clr), (bool(maximize),)


def nadam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, mu, mu_next, mu_product,
          mu_product_next, step):
    """(1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, 1 - beta2**step,
    lr*(1 - mu)/(1 - mu_product), lr*mu_next/(1 - mu_product_next)), (decoupled, maximize).

    The caller's momentum schedule (PyTorch's, momentum_decay psi = 0.004 by default):
    mu = mu_t = beta1 * (1 - 0.5 * 0.96**(t*psi)), mu_next = mu_{t+1},
    mu_product = mu_1 * ... * mu_t (mu_t included), mu_product_next = mu_product * mu_next.
    """
    grad_coef = lr * (1.0 - mu) / (1.0 - mu_product)
    avg_coef = lr * mu_next / (1.0 - mu_product_next)
    return ((1.0 - beta1, beta2, 1.0 - beta2, eps, weight_decay, 1.0 - lr * weight_decay,
             1.0 - beta2 ** step, grad_coef, avg_coef),
            (bool(decoupled_weight_decay), bool(maximize)))


def radam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, step):
    """(lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr*wd, 1 - beta1**step, sqrt(1 - beta2**step),
    rect), (rectified, decoupled, maximize).

    rho_inf = 2/(1 - beta2) - 1, rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t); rectified = rho_t > 5;
    rect = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)) when rectified, else 1.
    """
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2 ** step) / bias_correction2
    rectified = rho_t > 5.0
    rect = 1.0
    if rectified:
        rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                         / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
    return ((lr, 1.0 - beta1, beta2, 1.0 - beta2, eps, weight_decay, 1.0 - lr * weight_decay,
             bias_correction1, math.sqrt(bias_correction2), rect),
            (bool(rectified), bool(decoupled_weight_decay), bool(maximize)))
