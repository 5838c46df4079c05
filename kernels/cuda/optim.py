"""Fused optimizer updates on CUDA: one Numba @cuda.jit kernel per algorithm, one thread per element.

Same names, signatures, validation and formulas as kernels.cpu.optim (see there): each ``<algo>_step``
updates 1-D C-contiguous arrays in place in one pass, options as runtime scalar arguments, host scalars
from kernels._optim_scalars cast to the arrays' dtype. One launch covers the whole array, so a param
group kept as views into one flat buffer is updated by one launch. Kernels compile lazily per dtype.
Written once for both backends: the per-element maths (kernels/_optim_math.py, inlined into the kernels
here) and the public ``<algo>_step`` functions (kernels/_optim_steps.py); this file holds the kernels
and how to launch them.
"""
import sys

from kernels import _optim_math, _optim_steps
from kernels import _optim_scalars as S
from kernels._checks import check_step_arrays
from kernels.cuda import _launch
from kernels.cuda._launch import cuda, device_functions, kernel, launch

__all__ = ["adadelta_step", "adagrad_step", "adam_step", "adamax_step", "nadam_step", "radam_step",
           "rmsprop_step", "sgd_step"]

_M = device_functions(_optim_math)  # the per-element updates, inlined into the kernels


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


# The kernels: one thread reads one element of every array, hands the values to the algorithm's update in
# kernels/_optim_math.py (inlined) and stores what it returns. _M.load/_M.store skip the state slots the
# options leave unused (empty placeholders).

@kernel(uses=_optim_math)
def _sgd(param, grad, buf, lr, momentum, one_minus_dampening, weight_decay, use_momentum, nesterov, maximize,
         first_step):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        b = _M.load(buf, i, use_momentum, p)
        p, b = _M.sgd_update(p, grad[i], b, lr, momentum, one_minus_dampening, weight_decay, use_momentum,
                             nesterov, maximize, first_step)
        param[i] = p
        _M.store(buf, i, use_momentum, b)


@kernel(uses=_optim_math)
def _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps,
          weight_decay, decay_scale, step_size, bias_correction2_sqrt, decoupled, amsgrad, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        v_max = _M.load(max_exp_avg_sq, i, amsgrad, p)
        p, m, v, v_max = _M.adam_update(
            p, grad[i], exp_avg[i], exp_avg_sq[i], v_max, one_minus_beta1, beta2, one_minus_beta2, eps,
            weight_decay, decay_scale, step_size, bias_correction2_sqrt, decoupled, amsgrad, maximize)
        param[i], exp_avg[i], exp_avg_sq[i] = p, m, v
        _M.store(max_exp_avg_sq, i, amsgrad, v_max)


@kernel(uses=_optim_math)
def _rmsprop(param, grad, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
             use_momentum, centered, maximize):
    i = cuda.grid(1)
    if i < param.size:
        p = param[i]
        ga, b = _M.load(grad_avg, i, centered, p), _M.load(buf, i, use_momentum, p)
        p, sq, ga, b = _M.rmsprop_update(p, grad[i], square_avg[i], ga, b, lr, alpha, one_minus_alpha, eps,
                                         weight_decay, momentum, use_momentum, centered, maximize)
        param[i], square_avg[i] = p, sq
        _M.store(grad_avg, i, centered, ga)
        _M.store(buf, i, use_momentum, b)


@kernel(uses=_optim_math)
def _adagrad(param, grad, state_sum, clr, weight_decay, eps, maximize):
    i = cuda.grid(1)
    if i < param.size:
        param[i], state_sum[i] = _M.adagrad_update(
            param[i], grad[i], state_sum[i], clr, weight_decay, eps, maximize)


@kernel(uses=_optim_math)
def _adadelta(param, grad, square_avg, acc_delta, lr, rho, one_minus_rho, eps, weight_decay, maximize):
    i = cuda.grid(1)
    if i < param.size:
        param[i], square_avg[i], acc_delta[i] = _M.adadelta_update(
            param[i], grad[i], square_avg[i], acc_delta[i], lr, rho, one_minus_rho, eps, weight_decay,
            maximize)


@kernel(uses=_optim_math)
def _adamax(param, grad, exp_avg, exp_inf, one_minus_beta1, beta2, eps, weight_decay, clr, maximize):
    i = cuda.grid(1)
    if i < param.size:
        param[i], exp_avg[i], exp_inf[i] = _M.adamax_update(
            param[i], grad[i], exp_avg[i], exp_inf[i], one_minus_beta1, beta2, eps, weight_decay, clr,
            maximize)


@kernel(uses=_optim_math)
def _nadam(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay,
           decay_scale, bias_correction2, grad_coef, avg_coef, decoupled, maximize):
    i = cuda.grid(1)
    if i < param.size:
        param[i], exp_avg[i], exp_avg_sq[i] = _M.nadam_update(
            param[i], grad[i], exp_avg[i], exp_avg_sq[i], one_minus_beta1, beta2, one_minus_beta2, eps,
            weight_decay, decay_scale, bias_correction2, grad_coef, avg_coef, decoupled, maximize)


@kernel(uses=_optim_math)
def _radam(param, grad, exp_avg, exp_avg_sq, lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay,
           decay_scale, bias_correction1, bias_correction2_sqrt, rect, rectified, decoupled, maximize):
    i = cuda.grid(1)
    if i < param.size:
        param[i], exp_avg[i], exp_avg_sq[i] = _M.radam_update(
            param[i], grad[i], exp_avg[i], exp_avg_sq[i], lr, one_minus_beta1, beta2, one_minus_beta2, eps,
            weight_decay, decay_scale, bias_correction1, bias_correction2_sqrt, rect, rectified, decoupled,
            maximize)


# the public functions (kernels/_optim_steps.py), bound to this module's loops
_steps = _optim_steps.Steps(sys.modules[__name__])
sgd_step = _steps.sgd_step
adam_step = _steps.adam_step
rmsprop_step = _steps.rmsprop_step
adagrad_step = _steps.adagrad_step
adadelta_step = _steps.adadelta_step
adamax_step = _steps.adamax_step
nadam_step = _steps.nadam_step
radam_step = _steps.radam_step
