"""Fused optimizer updates on CUDA: one Numba @cuda.jit kernel per algorithm, one thread per element.

Same names, signatures, validation and formulas as kernels.cpu.optim (see there): each ``<algo>_step``
updates 1-D C-contiguous arrays in place in one pass, options as runtime scalar arguments, host scalars
from kernels._optim_scalars cast to the arrays' dtype. One launch covers the whole array, so a param
group kept as views into one flat buffer is updated by one launch. Kernels compile lazily per dtype.
The public ``<algo>_step`` wrappers (validation, state slots, host scalars) are shared with the
other backend through kernels._optim_steps; this file holds the loops and how to run them.
"""
import math
import sys

from kernels import _optim_scalars as S
from kernels import _optim_steps
from kernels._checks import check_step_arrays
from kernels.cuda import _launch
from kernels.cuda._launch import cuda, kernel, launch

__all__ = ["adadelta_step", "adagrad_step", "adam_step", "adamax_step", "nadam_step", "radam_step",
           "rmsprop_step", "sgd_step"]


def _check(op, arrays, needed):
    _launch.require()
    check_step_arrays(op, _launch.xp.ndarray, arrays, needed)


def _run(kernel, arrays, scalars):
    param, grad, *state = arrays
    if isinstance(grad, (list, tuple)):
        grad = _gather(grad, param)
    launch(kernel, param.size, param, grad, *state, *S.unpacked(param.dtype, scalars))


def _gather(segments, param):
    # One kernel reads one grad array: the segments are copied back to back first (on a GPU the copy
    # costs a fraction of the update; CuPy's stream-ordered memory pool keeps the buffer between steps).
    if not segments:
        return _launch.xp.empty(0, param.dtype)
    return _launch.xp.concatenate(segments)


def _state(a, like):
    # an unused state slot gets an empty array of the param's dtype: one compiled kernel per dtype
    return _launch.xp.empty(0, like.dtype) if a is None else a


@kernel
def _sgd(param, grad, buf, lr, momentum, one_minus_dampening, weight_decay, use_momentum, nesterov, maximize,
         first_step):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        if use_momentum:
            if first_step:  # the buffer starts as the gradient, without dampening, as in PyTorch
                b = g
            else:
                b = momentum * buf[i] + one_minus_dampening * g
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] = p - lr * g


@kernel
def _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps,
          weight_decay, decay_scale, step_size, bias_correction2_sqrt, decoupled, amsgrad, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * decay_scale
            else:
                g = g + weight_decay * p
        m = exp_avg[i]
        m = m + one_minus_beta1 * (g - m)
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
        exp_avg_sq[i] = v
        if amsgrad:
            v_max = max_exp_avg_sq[i]
            if v > v_max or math.isnan(v):  # NaN propagates, as torch.maximum does
                v_max = v
            max_exp_avg_sq[i] = v_max
            v = v_max
        param[i] = p - (step_size * m) / (math.sqrt(v) / bias_correction2_sqrt + eps)


@kernel
def _rmsprop(param, grad, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
             use_momentum, centered, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        sq = alpha * square_avg[i] + one_minus_alpha * (g * g)
        square_avg[i] = sq
        if centered:
            ga = grad_avg[i]
            ga = ga + one_minus_alpha * (g - ga)
            grad_avg[i] = ga
            avg = math.sqrt(sq - ga * ga) + eps
        else:
            avg = math.sqrt(sq) + eps
        if use_momentum:
            b = momentum * buf[i] + g / avg
            buf[i] = b
            param[i] = p - lr * b
        else:
            param[i] = p - (lr * g) / avg


@kernel
def _adagrad(param, grad, state_sum, clr, weight_decay, eps, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        s = state_sum[i] + g * g
        state_sum[i] = s
        param[i] = p - (clr * g) / (math.sqrt(s) + eps)


@kernel
def _adadelta(param, grad, square_avg, acc_delta, lr, rho, one_minus_rho, eps, weight_decay, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        sq = rho * square_avg[i] + one_minus_rho * (g * g)
        square_avg[i] = sq
        u = acc_delta[i]
        delta = math.sqrt(u + eps) / math.sqrt(sq + eps) * g
        acc_delta[i] = rho * u + one_minus_rho * (delta * delta)
        param[i] = p - lr * delta


@kernel
def _adamax(param, grad, exp_avg, exp_inf, one_minus_beta1, beta2, eps, weight_decay, clr, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        m = exp_avg[i]
        m = m + one_minus_beta1 * (g - m)
        exp_avg[i] = m
        u = beta2 * exp_inf[i]
        a = abs(g) + eps
        if a > u or math.isnan(a):  # NaN propagates, as torch.maximum does
            u = a
        exp_inf[i] = u
        param[i] = p - (clr * m) / u


@kernel
def _nadam(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay,
           decay_scale, bias_correction2, grad_coef, avg_coef, decoupled, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * decay_scale
            else:
                g = g + weight_decay * p
        m = exp_avg[i]
        m = m + one_minus_beta1 * (g - m)
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
        exp_avg_sq[i] = v
        denom = math.sqrt(v / bias_correction2) + eps
        p = p - (grad_coef * g) / denom
        param[i] = p - (avg_coef * m) / denom


@kernel
def _radam(param, grad, exp_avg, exp_avg_sq, lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay,
           decay_scale, bias_correction1, bias_correction2_sqrt, rect, rectified, decoupled, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * decay_scale
            else:
                g = g + weight_decay * p
        m = exp_avg[i]
        m = m + one_minus_beta1 * (g - m)
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
        exp_avg_sq[i] = v
        update = m / bias_correction1 * lr
        if rectified:
            update = update * (bias_correction2_sqrt / (math.sqrt(v) + eps)) * rect
        param[i] = p - update


(sgd_step, adam_step, rmsprop_step, adagrad_step, adadelta_step, adamax_step, nadam_step,
 radam_step) = _optim_steps.define(sys.modules[__name__])
