"""The gates of one GRU or LSTM step on CUDA: one Numba @cuda.jit kernel per direction, one thread per
(batch row, hidden unit), around the maths of kernels/_recurrent_math.py (inlined, shared with kernels.cpu).

A step's gates were a dozen CuPy elementwise kernels forward and ~20 backward, each a launch; a sequence
runs one step after another, so launches bound it. Here the forward computes every gate, both tanh and
the new state in one launch, and the backward every gate gradient in one. float16 and mixed dtypes take
kernels/_recurrent_gates.py's array code on CuPy. The sigmoid is exp(-|x|)-based, so no exp overflows.
"""
import math

from kernels import _recurrent_gates as _gates, _recurrent_math, _recurrent_sequence as _sequence
from kernels.cuda import _launch
from kernels.cuda._launch import cuda, device_function, device_functions, kernel, launch
from kernels.cuda.activation import sigmoid

__all__ = ["gru_gates", "gru_gates_backward", "lstm_gates", "lstm_gates_backward", "lstm_sequence",
           "lstm_sequence_backward"]

_M = device_functions(_recurrent_math)


@device_function
def _sigmoid(x, one):
    e = math.exp(-abs(x))
    return one / (one + e) if x >= 0 else e / (one + e)


@kernel(uses=_recurrent_math)
def _gru_forward(gi, gh, bias, h, h_new, r, z, n, gh_n, one):
    k = cuda.grid(1)
    H = h.shape[1]
    if k < h.size:
        b, j = k // H, k % H
        rj = _sigmoid(gi[b, j] + (gh[b, j] + bias[j]), one)
        zj = _sigmoid(gi[b, H + j] + (gh[b, H + j] + bias[H + j]), one)
        ghn = gh[b, 2 * H + j] + bias[2 * H + j]
        nj = math.tanh(_M.gru_n_pre(gi[b, 2 * H + j], rj, ghn))
        r[b, j], z[b, j], n[b, j], gh_n[b, j] = rj, zj, nj, ghn
        h_new[b, j] = _M.gru_blend(nj, zj, h[b, j])


@kernel(uses=_recurrent_math)
def _gru_backward(grad, h, r, z, n, gh_n, dgi, dgh, dh, one):
    k = cuda.grid(1)
    H = h.shape[1]
    if k < h.size:
        b, j = k // H, k % H
        dr, dz, dn, dn_r, dh[b, j] = _M.gru_backward(grad[b, j], h[b, j], r[b, j], z[b, j], n[b, j],
                                                     gh_n[b, j], one)
        dgi[b, j], dgi[b, H + j], dgi[b, 2 * H + j] = dr, dz, dn
        dgh[b, j], dgh[b, H + j], dgh[b, 2 * H + j] = dr, dz, dn_r


@kernel(uses=_recurrent_math)
def _lstm_forward(gi, gh, bias, c, h_new, c_new, i, f, g, o, tc, one):
    k = cuda.grid(1)
    H = c.shape[1]
    if k < c.size:
        b, j = k // H, k % H
        ij = _sigmoid(gi[b, j] + gh[b, j] + bias[j], one)
        fj = _sigmoid(gi[b, H + j] + gh[b, H + j] + bias[H + j], one)
        gj = math.tanh(gi[b, 2 * H + j] + gh[b, 2 * H + j] + bias[2 * H + j])
        oj = _sigmoid(gi[b, 3 * H + j] + gh[b, 3 * H + j] + bias[3 * H + j], one)
        cj = _M.lstm_cell(fj, c[b, j], ij, gj)
        tj = math.tanh(cj)
        i[b, j], f[b, j], g[b, j], o[b, j], c_new[b, j], tc[b, j] = ij, fj, gj, oj, cj, tj
        h_new[b, j] = oj * tj


@kernel(uses=_recurrent_math)
def _lstm_backward(grad_h, grad_c, c, i, f, g, o, tc, dgates, dc_prev, one):
    k = cuda.grid(1)
    H = c.shape[1]
    if k < c.size:
        b, j = k // H, k % H
        (dgates[b, j], dgates[b, H + j], dgates[b, 2 * H + j], dgates[b, 3 * H + j],
         dc_prev[b, j]) = _M.lstm_backward(grad_h[b, j], grad_c[b, j], c[b, j], i[b, j], f[b, j], g[b, j],
                                           o[b, j], tc[b, j], one)


def _empty(*shape, like):
    return _launch.xp.empty(shape, like.dtype)


def gru_gates(gi, gh, h, b_hh):
    """One GRU step's gates: (h_new, r, z, n, gh_n) for gi = x @ W_ih^T + b_ih and gh = h @ W_hh^T (without
    b_hh, which may be None); each (batch, hidden)."""
    arrays = _gates.compiled_arrays(_launch.xp, gi, gh, h, b_hh)
    if arrays is None:
        return _gates.gru_gates(_launch.xp, sigmoid, gi, gh, h, b_hh)
    gi, gh, h, b_hh = arrays
    bias = _gates.or_zeros(_launch.xp, b_hh, gh.shape[1], h)
    h_new, r, z, n, gh_n = (_empty(*h.shape, like=h) for _ in range(5))
    launch(_gru_forward, h.size, gi, gh, bias, h, h_new, r, z, n, gh_n, h.dtype.type(1))
    return h_new, r, z, n, gh_n


def gru_gates_backward(grad, h, r, z, n, gh_n):
    """(d gi, d gh, grad * z) of gru_gates: the gradients of gi and of gh + b_hh, and the part of h's
    gradient that does not pass through gh."""
    arrays = _gates.compiled_arrays(_launch.xp, grad, h, r, z, n, gh_n)
    if arrays is None:
        return _gates.gru_gates_backward(_launch.xp, grad, h, r, z, n, gh_n)
    grad, h, r, z, n, gh_n = arrays
    batch, hidden = h.shape
    dgi, dgh = _empty(batch, 3 * hidden, like=h), _empty(batch, 3 * hidden, like=h)
    dh = _empty(batch, hidden, like=h)
    launch(_gru_backward, h.size, grad, h, r, z, n, gh_n, dgi, dgh, dh, h.dtype.type(1))
    return dgi, dgh, dh


def lstm_gates(gi, gh, c, b_hh):
    """One LSTM step's gates: (h_new, c_new, i, f, g, o, tanh(c_new)) for gi = x @ W_ih^T + b_ih and
    gh = h @ W_hh^T (without b_hh, which may be None); each (batch, hidden)."""
    arrays = _gates.compiled_arrays(_launch.xp, gi, gh, c, b_hh)
    if arrays is None:
        return _gates.lstm_gates(_launch.xp, sigmoid, gi, gh, c, b_hh)
    gi, gh, c, b_hh = arrays
    bias = _gates.or_zeros(_launch.xp, b_hh, gh.shape[1], c)
    out = [_empty(*c.shape, like=c) for _ in range(7)]  # h_new, c_new, i, f, g, o, tc
    launch(_lstm_forward, c.size, gi, gh, bias, c, *out, c.dtype.type(1))
    return tuple(out)


def lstm_gates_backward(grad_h, grad_c, c, i, f, g, o, tc):
    """(d gates, d c) of lstm_gates from the gradients of h_new and c_new (either may be None)."""
    arrays = _gates.compiled_arrays(_launch.xp, c, i, f, g, o, tc, grad_h, grad_c)
    if arrays is None:
        return _gates.lstm_gates_backward(_launch.xp, grad_h, grad_c, c, i, f, g, o, tc)
    c, i, f, g, o, tc, grad_h, grad_c = arrays
    dgates, dc_prev = _empty(c.shape[0], 4 * c.shape[1], like=c), _empty(*c.shape, like=c)
    grad_h, grad_c = (_gates.or_zeros(_launch.xp, a, c.shape, c) for a in (grad_h, grad_c))
    launch(_lstm_backward, c.size, grad_h, grad_c, c, i, f, g, o, tc, dgates, dc_prev, c.dtype.type(1))
    return dgates, dc_prev


def lstm_sequence(gi, h0, c0, w_hh, b_hh, reverse):
    """An LSTM layer's sequence in one direction: (states (T, B, H), cells (T, B, H), what backward needs),
    step by step (kernels/_recurrent_sequence.py: a product and lstm_gates per step)."""
    return _sequence.lstm_forward(_launch.xp, lstm_gates, gi, h0, c0, w_hh, b_hh, reverse)


def lstm_sequence_backward(g_states, g_c, c0, w_hh, cells, gates, reverse):
    """(d gi (T, B, 4H), d h0, d c0) of lstm_sequence from the gradients of its states and of its last cell
    state (either may be None)."""
    return _sequence.lstm_backward(_launch.xp, lstm_gates_backward, g_states, g_c, c0, w_hh, cells, gates,
                                   reverse)
