"""Fused optimizer updates on the CPU: one Numba loop per algorithm.

Each ``<algo>_step`` updates 1-D C-contiguous arrays in place in a single pass (param, grad and state
read once, param and state written once), following the algorithm in PyTorch's torch.optim docs, with
weight decay, maximize, amsgrad, nesterov, ... as runtime scalar arguments. Host scalars (bias
corrections, step sizes) come from kernels._optim_scalars as one small array in the arrays' dtype, so
float32 arrays get float32 math as in PyTorch. Kernels compile lazily per dtype, cached on disk.
Written once for both backends: the per-element maths (kernels/_optim_math.py, inlined into the loops
here) and the public ``<algo>_step`` functions (kernels/_optim_steps.py: validation, state slots, host
scalars); this file holds the loops and how to run them. A grad given as segments (one per param of a
flat param group) is read in place: one parallel call per step, however many tensors, and no gather copy.
"""
import sys

import numba
import numpy as np
from numba import njit, prange

from kernels import _optim_math, _optim_steps
from kernels import _optim_scalars as S
from kernels._checks import check_step_arrays
from kernels._shared_jit import cached_as, compile_functions
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

_M = compile_functions(_optim_math, njit(inline="always"))  # the per-element updates, inlined into the loops


class _Loop:
    """A fused loop compiled once per dtype with prange over Numba's thread pool.

    The grad comes as a typed list of 1-D segments laid out back to back along the param (one array,
    or the grads of a whole param group, read where they are: no gather copy). The loop runs over
    work items of at most WORK_ITEM elements within one segment (``_work_items``); each item slices
    every array, so the inner loop indexes from 0 and vectorises (an offset index ``base + j`` keeps
    Numba's negative-index check and measured 2.5x slower).
    """

    def __init__(self, loop):
        loop = cached_as(loop, _optim_math)  # its cache entries go stale when the inlined maths changes
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


# The loops: each reads one element of every array, hands the values to the algorithm's update in
# kernels/_optim_math.py (inlined: the loop vectorises as if the maths were written here) and stores what
# it returns. _M.load/_M.store skip the state slots the options leave unused (empty placeholders).
# The flags that choose which state is read and written (SGD's momentum, Adam's amsgrad, RMSprop's centered
# and momentum) reach the inner loop (_<algo>_items) as constants, one branch per value. Left to LLVM, it
# unswitched the loop on one runtime flag of its choosing and kept the others' loads and stores conditional:
# RMSprop's default (not centered) loop stayed scalar (2-3x slower), and the serial Adam twin 10-30%.


@njit(inline="always")
def _sgd_items(param, grad, buf, scalars, use_momentum, nesterov, maximize, first_step):
    lr, momentum, one_minus_dampening, weight_decay = scalars
    for i in range(grad.size):
        p = param[i]
        b = _M.load(buf, i, use_momentum, p)
        p, b = _M.sgd_update(p, grad[i], b, lr, momentum, one_minus_dampening, weight_decay, use_momentum,
                             nesterov, maximize, first_step)
        param[i] = p
        _M.store(buf, i, use_momentum, b)


@_Loop
def _sgd(flat_param, grads, work, flat_buf, scalars, use_momentum, nesterov, maximize, first_step):
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, buf = flat_param[span], flat_buf[span]
        if use_momentum:
            _sgd_items(param, grad, buf, scalars, True, nesterov, maximize, first_step)
        else:
            _sgd_items(param, grad, buf, scalars, False, nesterov, maximize, first_step)


@njit(inline="always")
def _adam_items(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, scalars, decoupled, amsgrad, maximize):
    (one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, step_size,
     bias_correction2_sqrt) = scalars
    for i in range(grad.size):
        p = param[i]
        v_max = _M.load(max_exp_avg_sq, i, amsgrad, p)
        p, m, v, v_max = _M.adam_update(p, grad[i], exp_avg[i], exp_avg_sq[i], v_max, one_minus_beta1, beta2,
                                        one_minus_beta2, eps, weight_decay, decay_scale, step_size,
                                        bias_correction2_sqrt, decoupled, amsgrad, maximize)
        param[i], exp_avg[i], exp_avg_sq[i] = p, m, v
        _M.store(max_exp_avg_sq, i, amsgrad, v_max)


@_Loop
def _adam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, flat_max_exp_avg_sq, scalars, decoupled,
          amsgrad, maximize):
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        max_exp_avg_sq = flat_max_exp_avg_sq[span]
        if amsgrad:
            _adam_items(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, scalars, decoupled, True, maximize)
        else:
            _adam_items(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, scalars, decoupled, False, maximize)


@njit(inline="always")
def _rmsprop_items(param, grad, square_avg, grad_avg, buf, scalars, use_momentum, centered, maximize):
    lr, alpha, one_minus_alpha, eps, weight_decay, momentum = scalars
    for i in range(grad.size):
        p = param[i]
        ga, b = _M.load(grad_avg, i, centered, p), _M.load(buf, i, use_momentum, p)
        p, sq, ga, b = _M.rmsprop_update(p, grad[i], square_avg[i], ga, b, lr, alpha, one_minus_alpha, eps,
                                         weight_decay, momentum, use_momentum, centered, maximize)
        param[i], square_avg[i] = p, sq
        _M.store(grad_avg, i, centered, ga)
        _M.store(buf, i, use_momentum, b)


@_Loop
def _rmsprop(flat_param, grads, work, flat_square_avg, flat_grad_avg, flat_buf, scalars, use_momentum,
             centered, maximize):
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, square_avg = flat_param[span], flat_square_avg[span]
        grad_avg, buf = flat_grad_avg[span], flat_buf[span]
        if centered:
            if use_momentum:
                _rmsprop_items(param, grad, square_avg, grad_avg, buf, scalars, True, True, maximize)
            else:
                _rmsprop_items(param, grad, square_avg, grad_avg, buf, scalars, False, True, maximize)
        elif use_momentum:
            _rmsprop_items(param, grad, square_avg, grad_avg, buf, scalars, True, False, maximize)
        else:
            _rmsprop_items(param, grad, square_avg, grad_avg, buf, scalars, False, False, maximize)


@_Loop
def _adagrad(flat_param, grads, work, flat_state_sum, scalars, maximize):
    clr, weight_decay, eps = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, state_sum = flat_param[span], flat_state_sum[span]
        for i in range(grad.size):
            param[i], state_sum[i] = _M.adagrad_update(
                param[i], grad[i], state_sum[i], clr, weight_decay, eps, maximize)


@_Loop
def _adadelta(flat_param, grads, work, flat_square_avg, flat_acc_delta, scalars, maximize):
    lr, rho, one_minus_rho, eps, weight_decay = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, square_avg, acc_delta = flat_param[span], flat_square_avg[span], flat_acc_delta[span]
        for i in range(grad.size):
            param[i], square_avg[i], acc_delta[i] = _M.adadelta_update(
                param[i], grad[i], square_avg[i], acc_delta[i], lr, rho, one_minus_rho, eps, weight_decay,
                maximize)


@_Loop
def _adamax(flat_param, grads, work, flat_exp_avg, flat_exp_inf, scalars, maximize):
    one_minus_beta1, beta2, eps, weight_decay, clr = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_inf = flat_param[span], flat_exp_avg[span], flat_exp_inf[span]
        for i in range(grad.size):
            param[i], exp_avg[i], exp_inf[i] = _M.adamax_update(
                param[i], grad[i], exp_avg[i], exp_inf[i], one_minus_beta1, beta2, eps, weight_decay, clr,
                maximize)


@_Loop
def _nadam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, scalars, decoupled, maximize):
    (one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, bias_correction2,
     grad_coef, avg_coef) = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        for i in range(grad.size):
            param[i], exp_avg[i], exp_avg_sq[i] = _M.nadam_update(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], one_minus_beta1, beta2, one_minus_beta2, eps,
                weight_decay, decay_scale, bias_correction2, grad_coef, avg_coef, decoupled, maximize)


@_Loop
def _radam(flat_param, grads, work, flat_exp_avg, flat_exp_avg_sq, scalars, rectified, decoupled, maximize):
    (lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_scale, bias_correction1,
     bias_correction2_sqrt, rect) = scalars
    for w in prange(work.shape[0]):
        span, grad = _item(work, w, grads)
        param, exp_avg, exp_avg_sq = flat_param[span], flat_exp_avg[span], flat_exp_avg_sq[span]
        for i in range(grad.size):
            param[i], exp_avg[i], exp_avg_sq[i] = _M.radam_update(
                param[i], grad[i], exp_avg[i], exp_avg_sq[i], lr, one_minus_beta1, beta2, one_minus_beta2,
                eps, weight_decay, decay_scale, bias_correction1, bias_correction2_sqrt, rect, rectified,
                decoupled, maximize)


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
