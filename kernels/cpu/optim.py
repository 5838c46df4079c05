"""Fused optimizer updates on the CPU: one Numba loop per algorithm.

Each ``<algo>_step`` updates 1-D C-contiguous arrays in place in a single pass (param, grad and state
read once, param and state written once), following the algorithm in PyTorch's torch.optim docs, with
weight decay, maximize, amsgrad, nesterov, ... as runtime scalar arguments. Host scalars (bias
corrections, step sizes) come from kernels._optim_scalars as one small array in the arrays' dtype, so
float32 arrays get float32 math as in PyTorch. Moving averages are written ``m + (1 - beta)*(g - m)``
(PyTorch's lerp; the docs' ``beta*m + (1 - beta)*g``). Kernels compile lazily per dtype, cached on disk.
The public ``<algo>_step`` wrappers (validation, state slots, host scalars) are shared with the
other backend through kernels._optim_steps; this file holds the loops and how to run them. A grad
given as segments (one per param of a flat param group) is read in place: one parallel call per step,
however many tensors, and no gather copy.
"""
import math
import sys

import numba
import numpy as np
from numba import njit, prange

from kernels import _optim_scalars as S
from kernels import _optim_steps
from kernels._checks import check_step_arrays
from kernels.cpu._serial import serial_below, serial_twin

__all__ = ["adadelta_step", "adagrad_step", "adam_step", "adamax_step", "nadam_step", "radam_step",
           "rmsprop_step", "sgd_step"]

# Arrays below this many elements run on the calling thread alone (a serial twin, kernels/cpu/_serial.py);
# None: 2**15 under the workqueue layer, whose pool wake-up (~110 us a call for 1,000 elements) costs more
# than the loop, 2**12 under TBB (wake-up ~2 us). Not higher: the serial Adam loop does not vectorise
# (too many arrays for LLVM's runtime alias checks; the parallel one has noalias arguments) and measured
# 2.4x slower than the workqueue pool at 2**17 elements and 4x slower than TBB's at 2**15.
SERIAL_BELOW = None
# Work item size (elements): small, because prange splits the items evenly by count and each segment's
# last item is short; 2**11-2**14 measured within 2-8% of one flat grad on ResNet-18's 62 grads, 2**16 20%.
WORK_ITEM = 1 << 12


class _Loop:
    """A fused loop compiled once per dtype with prange over Numba's thread pool.

    The grad comes as a typed list of 1-D segments laid out back to back along the param (one array,
    or the grads of a whole param group, read where they are: no gather copy). The loop runs over
    work items of at most WORK_ITEM elements within one segment (``_work_items``); each item slices
    every array, so the inner loop indexes from 0 and vectorises (an offset index ``base + j`` keeps
    Numba's negative-index check and measured 2.5x slower).
    """

    def __init__(self, loop):
        self.kernel = njit(parallel=True, fastmath=False, cache=True)(loop)
        self.serial = serial_twin(self.kernel, fastmath=False)

    def __call__(self, param, grads, *args):
        limit = SERIAL_BELOW if SERIAL_BELOW is not None else serial_below(1 << 15, 1 << 12)
        kernel = self.kernel if param.size >= limit else self.serial
        kernel(param, grads, _work_items(grads, WORK_ITEM), *args)


@njit(cache=True)
def _work_items(grads, size):
    """(n, 4) int64 rows (segment, offset in the param, start, end in the segment): the segments cut
    into pieces of at most `size` elements, in order."""
    n = 0
    for k in range(len(grads)):
        n += (grads[k].size + size - 1) // size
    work = np.empty((n, 4), np.int64)
    row = 0
    offset = 0
    for k in range(len(grads)):
        m = grads[k].size
        for lo in range(0, m, size):
            work[row, 0] = k
            work[row, 1] = offset + lo
            work[row, 2] = lo
            work[row, 3] = min(m, lo + size)
            row += 1
        offset += m
    return work


@njit(inline="always")
def _item(work, w, grads):
    """Work item w: (the slice of the param it covers, its piece of the grad)."""
    k, at, lo, hi = work[w, 0], work[w, 1], work[w, 2], work[w, 3]
    return slice(at, at + hi - lo), grads[k][lo:hi]


# Grads handed to Numba per call while building the typed list, as a tuple of this many arrays (padded):
# one compiled signature whatever the count; ResNet-18's 62 grads take ~11 us, against ~70 us for
# appending them to a typed list one by one from Python.
SEGMENT_CHUNK = 32


@njit(cache=True)
def _new_segments(chunk, n):
    segments = numba.typed.List()
    for i in range(n):
        segments.append(chunk[i])
    return segments


@njit(cache=True)
def _extend_segments(segments, chunk, n):
    for i in range(n):
        segments.append(chunk[i])


def _segments(grad, dtype):
    """The grad (an array, or a sequence of 1-D arrays of `dtype`) as a Numba typed list of 1-D arrays."""
    grads = [grad] if isinstance(grad, np.ndarray) else list(grad) or [np.empty(0, dtype)]
    if not all(g.flags.writeable for g in grads):  # the kernel only reads them, but Numba types read-only
        grads = [g if g.flags.writeable else g.copy() for g in grads]  # arrays apart: one list type
    segments = None
    for lo in range(0, len(grads), SEGMENT_CHUNK):
        chunk = grads[lo:lo + SEGMENT_CHUNK]
        n = len(chunk)
        chunk += [chunk[0]] * (SEGMENT_CHUNK - n)
        if segments is None:
            segments = _new_segments(tuple(chunk), n)
        else:
            _extend_segments(segments, tuple(chunk), n)
    return segments


def _check(op, arrays, needed):
    check_step_arrays(op, np.ndarray, arrays, needed)


def _run(loop, arrays, scalars):
    param, grad, *state = arrays
    loop(param, _segments(grad, param.dtype), *state, *S.packed(param.dtype, scalars))


def _state(a, like):
    # an unused state slot gets an empty array of the param's dtype: one compiled kernel per dtype
    return np.empty(0, like.dtype) if a is None else a


@_Loop
def _sgd(flat_param, grads, work, flat_buf, scalars, use_momentum, nesterov, maximize, first_step):
    lr, momentum, one_minus_dampening, weight_decay = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, buf = flat_param[span], flat_buf[span]
        for i in range(grad.size):
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


@_Loop
def _adam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, flat_max_exp_avg_sq, scalars, decoupled,
          amsgrad, maximize):
    (one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, step_size,
     bias_correction2_sqrt) = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        max_exp_avg_sq = flat_max_exp_avg_sq[span]
        for i in range(grad.size):
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
            param[i] = p - (step_size * m) / (np.sqrt(v) / bias_correction2_sqrt + eps)


@_Loop
def _rmsprop(flat_param, grads, work, flat_square_avg, flat_grad_avg, flat_buf, scalars, use_momentum,
             centered, maximize):
    lr, alpha, one_minus_alpha, eps, weight_decay, momentum = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, square_avg = flat_param[span], flat_square_avg[span]
        grad_avg, buf = flat_grad_avg[span], flat_buf[span]
        for i in range(grad.size):
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
                avg = np.sqrt(sq - ga * ga) + eps
            else:
                avg = np.sqrt(sq) + eps
            if use_momentum:
                b = momentum * buf[i] + g / avg
                buf[i] = b
                param[i] = p - lr * b
            else:
                param[i] = p - (lr * g) / avg


@_Loop
def _adagrad(flat_param, grads, work, flat_state_sum, scalars, maximize):
    clr, weight_decay, eps = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, state_sum = flat_param[span], flat_state_sum[span]
        for i in range(grad.size):
            p = param[i]
            g = -grad[i] if maximize else grad[i]
            if weight_decay != 0:
                g = g + weight_decay * p
            s = state_sum[i] + g * g
            state_sum[i] = s
            param[i] = p - (clr * g) / (np.sqrt(s) + eps)


@_Loop
def _adadelta(flat_param, grads, work, flat_square_avg, flat_acc_delta, scalars, maximize):
    lr, rho, one_minus_rho, eps, weight_decay = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, square_avg, acc_delta = flat_param[span], flat_square_avg[span], flat_acc_delta[span]
        for i in range(grad.size):
            p = param[i]
            g = -grad[i] if maximize else grad[i]
            if weight_decay != 0:
                g = g + weight_decay * p
            sq = rho * square_avg[i] + one_minus_rho * (g * g)
            square_avg[i] = sq
            u = acc_delta[i]
            delta = np.sqrt(u + eps) / np.sqrt(sq + eps) * g
            acc_delta[i] = rho * u + one_minus_rho * (delta * delta)
            param[i] = p - lr * delta


@_Loop
def _adamax(flat_param, grads, work, flat_exp_avg, flat_exp_inf, scalars, maximize):
    one_minus_beta1, beta2, eps, weight_decay, clr = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_inf = flat_param[span], flat_exp_avg[span], flat_exp_inf[span]
        for i in range(grad.size):
            p = param[i]
            g = -grad[i] if maximize else grad[i]
            if weight_decay != 0:
                g = g + weight_decay * p
            m = exp_avg[i]
            m = m + one_minus_beta1 * (g - m)
            exp_avg[i] = m
            u = beta2 * exp_inf[i]
            a = np.abs(g) + eps
            if a > u or math.isnan(a):  # NaN propagates, as torch.maximum does
                u = a
            exp_inf[i] = u
            param[i] = p - (clr * m) / u


@_Loop
def _nadam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, scalars, decoupled, maximize):
    (one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, bias_correction2,
     grad_coef, avg_coef) = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        for i in range(grad.size):
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
            denom = np.sqrt(v / bias_correction2) + eps
            p = p - (grad_coef * g) / denom
            param[i] = p - (avg_coef * m) / denom


@_Loop
def _radam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, scalars, rectified, decoupled, maximize):
    (lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, bias_correction1,
     bias_correction2_sqrt, rect) = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        for i in range(grad.size):
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
                update = update * (bias_correction2_sqrt / (np.sqrt(v) + eps)) * rect
            param[i] = p - update


(sgd_step, adam_step, rmsprop_step, adagrad_step, adadelta_step, adamax_step, nadam_step,
 radam_step) = _optim_steps.define(sys.modules[__name__])
