"""Fused optimizer updates on CUDA: one Numba @cuda.jit kernel per algorithm, one thread per element.

Same names, signatures, validation and formulas as kernels.cpu.optim (see there): each ``<algo>_step``
updates 1-D C-contiguous arrays in place in one pass, options as runtime scalar arguments, host scalars
from kernels._optim_scalars cast to the arrays' dtype. One launch covers the whole array, so a param
group kept as views into one flat buffer is updated by one launch. Kernels compile lazily per dtype.
"""
import math

from kernels import _optim_scalars as S
from kernels._checks import check_step_arrays
from kernels.cuda import _launch
from kernels.cuda._launch import cuda, launch

__all__ = ["adadelta_step", "adagrad_step", "adam_step", "adamax_step", "nadam_step", "radam_step",
           "rmsprop_step", "sgd_step"]


def _kernel(fn):
    # importing never needs a GPU: without numba.cuda the kernels stay plain functions (launch refuses)
    return fn if cuda is None else cuda.jit(cache=True)(fn)


def _check(op, arrays, needed):
    _launch.require()
    check_step_arrays(op, _launch.xp.ndarray, arrays, needed)


def _run(kernel, arrays, scalars):
    launch(kernel, arrays[0].size, *arrays, *S.unpacked(arrays[0].dtype, scalars))


def _state(a, like):
    # an unused state slot gets an empty array of the param's dtype: one compiled kernel per dtype
    return _launch.xp.empty(0, like.dtype) if a is None else a


@_kernel
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


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first_step):
    """SGD: g += wd*p; b = g on the first step, else momentum*b + (1-dampening)*g; g = g + momentum*b
    (nesterov) or b; p -= lr*g. maximize negates the gradient first. momentum_buffer: None if
    momentum == 0."""
    _check("sgd_step", {"param": param, "grad": grad, "momentum_buffer": momentum_buffer},
           {"momentum_buffer": "momentum != 0"} if momentum != 0 else {})
    _run(_sgd, (param, grad, _state(momentum_buffer, param)),
         S.sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, first_step))


@_kernel
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


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
              decoupled_weight_decay, amsgrad, maximize, step):
    """Adam (AdamW when decoupled_weight_decay) at 1-based step: p *= 1 - lr*wd (decoupled) or g += wd*p;
    m, v moving averages; v_max = max(v_max, v) if amsgrad; p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),
    bc_k = 1 - beta_k**step. max_exp_avg_sq: None unless amsgrad."""
    needed = {"exp_avg": "", "exp_avg_sq": ""}
    if amsgrad:
        needed["max_exp_avg_sq"] = "amsgrad=True"
    _check("adam_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                         "max_exp_avg_sq": max_exp_avg_sq}, needed)
    _run(_adam, (param, grad, exp_avg, exp_avg_sq, _state(max_exp_avg_sq, param)),
         S.adam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, step))


@_kernel
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


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum,
                 centered, maximize):
    """RMSprop: v = alpha*v + (1-alpha)*g^2; centered: g_avg moving average and v~ = v - g_avg^2;
    d = sqrt(v~) + eps (eps outside the sqrt); momentum > 0: b = momentum*b + g/d, p -= lr*b; else
    p -= lr*g/d. grad_avg: None unless centered; momentum_buffer: None unless momentum > 0."""
    needed = {"square_avg": ""}
    if centered:
        needed["grad_avg"] = "centered=True"
    if momentum > 0:
        needed["momentum_buffer"] = "momentum > 0"
    _check("rmsprop_step", {"param": param, "grad": grad, "square_avg": square_avg, "grad_avg": grad_avg,
                            "momentum_buffer": momentum_buffer}, needed)
    _run(_rmsprop, (param, grad, square_avg, _state(grad_avg, param), _state(momentum_buffer, param)),
         S.rmsprop(lr, alpha, eps, weight_decay, momentum, centered, maximize))


@_kernel
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


def adagrad_step(param, grad, state_sum, lr, lr_decay, weight_decay, eps, maximize, step):
    """Adagrad at 1-based step: clr = lr / (1 + (step-1)*lr_decay); g += wd*p; s += g^2;
    p -= clr * g / (sqrt(s) + eps)."""
    _check("adagrad_step", {"param": param, "grad": grad, "state_sum": state_sum}, {"state_sum": ""})
    _run(_adagrad, (param, grad, state_sum), S.adagrad(lr, lr_decay, weight_decay, eps, maximize, step))


@_kernel
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


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    """Adadelta: g += wd*p; v = rho*v + (1-rho)*g^2; dx = sqrt(u + eps)/sqrt(v + eps) * g;
    u = rho*u + (1-rho)*dx^2; p -= lr*dx."""
    _check("adadelta_step", {"param": param, "grad": grad, "square_avg": square_avg, "acc_delta": acc_delta},
           {"square_avg": "", "acc_delta": ""})
    _run(_adadelta, (param, grad, square_avg, acc_delta), S.adadelta(lr, rho, eps, weight_decay, maximize))


@_kernel
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


def adamax_step(param, grad, exp_avg, exp_inf, lr, beta1, beta2, eps, weight_decay, maximize, step):
    """Adamax at 1-based step: g += wd*p; m moving average; u = max(beta2*u, |g| + eps);
    p -= lr/(1 - beta1**step) * m / u."""
    _check("adamax_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_inf": exp_inf},
           {"exp_avg": "", "exp_inf": ""})
    _run(_adamax, (param, grad, exp_avg, exp_inf),
         S.adamax(lr, beta1, beta2, eps, weight_decay, maximize, step))


@_kernel
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


def nadam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay,
               maximize, mu, mu_next, mu_product, mu_product_next, step):
    """NAdam (NAdamW when decoupled_weight_decay) at 1-based step, with the caller's momentum schedule
    mu = mu_t = beta1*(1 - 0.5*0.96**(t*momentum_decay)), mu_next = mu_{t+1}, mu_product = mu_1*...*mu_t,
    mu_product_next = mu_product*mu_next: p *= 1 - lr*wd or g += wd*p; m, v moving averages;
    d = sqrt(v/(1 - beta2**step)) + eps; p -= lr*(1-mu)/(1-mu_product) * g/d;
    p -= lr*mu_next/(1-mu_product_next) * m/d."""
    _check("nadam_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq},
           {"exp_avg": "", "exp_avg_sq": ""})
    _run(_nadam, (param, grad, exp_avg, exp_avg_sq),
         S.nadam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, mu, mu_next,
                 mu_product, mu_product_next, step))


@_kernel
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


def radam_step(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay,
               maximize, step):
    """RAdam at 1-based step: p *= 1 - lr*wd or g += wd*p; m, v moving averages; m^ = m/(1 - beta1**step);
    if rho_t > 5: p -= lr * m^ * sqrt(1 - beta2**step)/(sqrt(v) + eps) * rect, else p -= lr * m^
    (rho_t and rect: kernels._optim_scalars.radam)."""
    _check("radam_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq},
           {"exp_avg": "", "exp_avg_sq": ""})
    _run(_radam, (param, grad, exp_avg, exp_avg_sq),
         S.radam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, step))
