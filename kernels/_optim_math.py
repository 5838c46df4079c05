"""The per-element maths of the fused optimizer steps, written once for kernels.cpu and kernels.cuda.

Plain scalar functions: each ``<algo>_update`` takes one element's param, grad and state values and the
step's scalars (from kernels._optim_scalars, already in the arrays' dtype) and returns the new param and
state values; the backends compile them with kernels._shared_jit and keep only the loop around them
(a prange over work items on the CPU, one thread per element on CUDA), which loads and stores. State an
option leaves unused comes in as any value of the dtype and goes out unchanged (``load``/``store``).
Formulas follow PyTorch's torch.optim docs; moving averages are written ``m + (1 - beta)*(g - m)``
(PyTorch's lerp; the docs' ``beta*m + (1 - beta)*g``). Compiled code computes in the arrays' dtype as long
as every operand is one: no float literals here (they are float64), ``math.sqrt``, not ``** 0.5``.
"""
import math


def load(a, i, used, unused):
    """a[i] when the options use state slot a, else `unused` (a is then an empty placeholder). Guarded by the
    option itself, not by a.size: the one loop-invariant flag lets LLVM unswitch and vectorise the loop
    (a separate a.size test kept Adam's CPU loop scalar: 2x slower)."""
    return a[i] if used else unused


def store(a, i, used, value):
    """a[i] = value when the options use state slot a."""
    if used:
        a[i] = value


def _grad(p, g, weight_decay, maximize):
    """The gradient the update follows: negated when maximizing, plus L2 weight decay wd*p."""
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    return g


def _decay(p, g, weight_decay, decay_scale, decoupled, maximize):
    """(p, g) after maximize's sign and weight decay: decoupled (AdamW) scales p by decay_scale = 1 - lr*wd,
    else L2 adds wd*p to g."""
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled:
            p = p * decay_scale
        else:
            g = g + weight_decay * p
    return p, g


def _lerp(m, g, weight):
    return m + weight * (g - m)


def _nan_max(a, b):
    """max(a, b) where a NaN in a propagates, as torch.maximum does."""
    return a if a > b or math.isnan(a) else b


def sgd_update(p, g, buf, lr, momentum, one_minus_dampening, weight_decay, use_momentum, nesterov, maximize,
               first_step):
    """-> (p, momentum_buffer)."""
    g = _grad(p, g, weight_decay, maximize)
    if use_momentum:
        if first_step:  # the buffer starts as the gradient, without dampening, as in PyTorch
            buf = g
        else:
            buf = momentum * buf + one_minus_dampening * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adam_update(p, g, m, v, v_max, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale,
                step_size, bias_correction2_sqrt, decoupled, amsgrad, maximize):
    """-> (p, exp_avg, exp_avg_sq, max_exp_avg_sq)."""
    p, g = _decay(p, g, weight_decay, decay_scale, decoupled, maximize)
    m = _lerp(m, g, one_minus_beta1)
    v = beta2 * v + one_minus_beta2 * (g * g)
    second = v
    if amsgrad:
        v_max = _nan_max(v, v_max)
        second = v_max
    return p - (step_size * m) / (math.sqrt(second) / bias_correction2_sqrt + eps), m, v, v_max


def rmsprop_update(p, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
                   use_momentum, centered, maximize):
    """-> (p, square_avg, grad_avg, momentum_buffer)."""
    g = _grad(p, g, weight_decay, maximize)
    square_avg = alpha * square_avg + one_minus_alpha * (g * g)
    if centered:
        grad_avg = _lerp(grad_avg, g, one_minus_alpha)
        avg = math.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = math.sqrt(square_avg) + eps
    if use_momentum:
        buf = momentum * buf + g / avg
        p = p - lr * buf
    else:
        p = p - (lr * g) / avg
    return p, square_avg, grad_avg, buf


def adagrad_update(p, g, state_sum, clr, weight_decay, eps, maximize):
    """-> (p, state_sum)."""
    g = _grad(p, g, weight_decay, maximize)
    state_sum = state_sum + g * g
    return p - (clr * g) / (math.sqrt(state_sum) + eps), state_sum


def adadelta_update(p, g, square_avg, acc_delta, lr, rho, one_minus_rho, eps, weight_decay, maximize):
    """-> (p, square_avg, acc_delta)."""
    g = _grad(p, g, weight_decay, maximize)
    square_avg = rho * square_avg + one_minus_rho * (g * g)
    delta = math.sqrt(acc_delta + eps) / math.sqrt(square_avg + eps) * g
    acc_delta = rho * acc_delta + one_minus_rho * (delta * delta)
    return p - lr * delta, square_avg, acc_delta


def adamax_update(p, g, m, exp_inf, one_minus_beta1, beta2, eps, weight_decay, clr, maximize):
    """-> (p, exp_avg, exp_inf)."""
    g = _grad(p, g, weight_decay, maximize)
    m = _lerp(m, g, one_minus_beta1)
    exp_inf = _nan_max(abs(g) + eps, beta2 * exp_inf)
    return p - (clr * m) / exp_inf, m, exp_inf


def nadam_update(p, g, m, v, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale,
                 bias_correction2, grad_coef, avg_coef, decoupled, maximize):
    """-> (p, exp_avg, exp_avg_sq)."""
    p, g = _decay(p, g, weight_decay, decay_scale, decoupled, maximize)
    m = _lerp(m, g, one_minus_beta1)
    v = beta2 * v + one_minus_beta2 * (g * g)
    denom = math.sqrt(v / bias_correction2) + eps
    p = p - (grad_coef * g) / denom
    return p - (avg_coef * m) / denom, m, v


def radam_update(p, g, m, v, lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale,
                 bias_correction1, bias_correction2_sqrt, rect, rectified, decoupled, maximize):
    """-> (p, exp_avg, exp_avg_sq)."""
    p, g = _decay(p, g, weight_decay, decay_scale, decoupled, maximize)
    m = _lerp(m, g, one_minus_beta1)
    v = beta2 * v + one_minus_beta2 * (g * g)
    update = m / bias_correction1 * lr
    if rectified:
        update = update * (bias_correction2_sqrt / (math.sqrt(v) + eps)) * rect
    return p - update, m, v
