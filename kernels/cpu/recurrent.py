"""The gates of one GRU or LSTM step on the CPU: one Numba pass for the gates' arithmetic, NumPy's tanh;
and an LSTM layer's whole sequence (lstm_sequence: fused loops for float32, kernels/cpu/_lstm_sequence.py).

The step (gpunet/ops/rnn.py, kernels/_recurrent_sequence.py) is a matrix product h @ W_hh^T and then
elementwise work on (batch, gates x hidden) arrays, small ones: NumPy's operators made 12 passes for a GRU
step's forward and ~20 for its backward, a few microseconds of call overhead each (the char-level GRU of
examples/benchmark.py runs 100 steps per sequence). Here each direction is one loop over the batch rows
around the maths of kernels/_recurrent_math.py (inlined), with kernels.cpu._exp's vectorised exp for the
sigmoids, plus NumPy's vectorised tanh between the loops (Numba's would call libm once per element). The
fallback for other dtypes (kernels/_recurrent_gates.py) applies the same maths to whole arrays, without
contraction into fused multiply-adds on either side: the results are the same bits.
"""
import numpy as np
from numba import njit, prange

from kernels import _recurrent_gates as _gates, _recurrent_math, _recurrent_sequence as _sequence
from kernels._shared_jit import cached_as, compile_functions
from kernels.cpu import _lstm_sequence as lstm_fused
from kernels.cpu._exp import vexp
from kernels.cpu._serial import by_size
from kernels.cpu.activation import sigmoid

__all__ = ["gru_gates", "gru_gates_backward", "lstm_gates", "lstm_gates_backward", "lstm_sequence",
           "lstm_sequence_backward"]

_M = compile_functions(_recurrent_math, njit(inline="always"))


def _loop(cost=1, **options):
    """by_size's parallel and serial loop, its cache tied to the maths it inlines."""
    return lambda fn: by_size(cost, **options)(cached_as(fn, _recurrent_math))


# Each loop takes a batch row at a time and indexes the gates' slices of it by j alone: with indices like
# H + j, which LLVM cannot prove non-negative, Numba's negative-index handling kept the loops scalar
# (the GRU backward of a 32 x 128 step: 24 -> 12 us).
@_loop(cost=4, error_model="numpy")
def _gru_pre(gi, gh, bias, r, z, gh_n, n_pre, one):
    H = r.shape[1]
    b_r, b_z, b_n = bias[:H], bias[H:2 * H], bias[2 * H:]
    for b in prange(r.shape[0]):
        gi_r, gi_z, gi_n = gi[b, :H], gi[b, H:2 * H], gi[b, 2 * H:]
        gh_r, gh_z, gh_nb = gh[b, :H], gh[b, H:2 * H], gh[b, 2 * H:]
        r_b, z_b, ghn_b, n_b = r[b], z[b], gh_n[b], n_pre[b]
        for j in range(H):
            rj = one / (one + vexp(-(gi_r[j] + (gh_r[j] + b_r[j]))))
            z_b[j] = one / (one + vexp(-(gi_z[j] + (gh_z[j] + b_z[j]))))
            ghn = gh_nb[j] + b_n[j]
            r_b[j], ghn_b[j] = rj, ghn
            n_b[j] = _M.gru_n_pre(gi_n[j], rj, ghn)


@_loop()
def _gru_blend(n, z, h, h_new):
    for b in prange(n.shape[0]):
        n_b, z_b, h_b, out = n[b], z[b], h[b], h_new[b]
        for j in range(n.shape[1]):
            out[j] = _M.gru_blend(n_b[j], z_b[j], h_b[j])


@_loop(cost=2)
def _gru_backward(grad, h, r, z, n, gh_n, dgi, dgh, dh, one):
    H = grad.shape[1]
    for b in prange(grad.shape[0]):
        g_b, h_b, r_b, z_b, n_b, ghn_b, dh_b = grad[b], h[b], r[b], z[b], n[b], gh_n[b], dh[b]
        dgi_r, dgi_z, dgi_n = dgi[b, :H], dgi[b, H:2 * H], dgi[b, 2 * H:]
        dgh_r, dgh_z, dgh_n = dgh[b, :H], dgh[b, H:2 * H], dgh[b, 2 * H:]
        for j in range(H):
            dr, dz, dn, dn_r, dh_b[j] = _M.gru_backward(g_b[j], h_b[j], r_b[j], z_b[j], n_b[j], ghn_b[j], one)
            dgi_r[j], dgi_z[j], dgi_n[j] = dr, dz, dn
            dgh_r[j], dgh_z[j], dgh_n[j] = dr, dz, dn_r


@_loop(cost=4, error_model="numpy")
def _lstm_pre(gi, gh, bias, i, f, g_pre, o, one):
    H = i.shape[1]
    b_i, b_f, b_g, b_o = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
    for b in prange(i.shape[0]):
        gi_i, gi_f, gi_g, gi_o = gi[b, :H], gi[b, H:2 * H], gi[b, 2 * H:3 * H], gi[b, 3 * H:]
        gh_i, gh_f, gh_g, gh_o = gh[b, :H], gh[b, H:2 * H], gh[b, 2 * H:3 * H], gh[b, 3 * H:]
        i_b, f_b, g_b, o_b = i[b], f[b], g_pre[b], o[b]
        for j in range(H):
            i_b[j] = one / (one + vexp(-(gi_i[j] + gh_i[j] + b_i[j])))
            f_b[j] = one / (one + vexp(-(gi_f[j] + gh_f[j] + b_f[j])))
            g_b[j] = gi_g[j] + gh_g[j] + b_g[j]
            o_b[j] = one / (one + vexp(-(gi_o[j] + gh_o[j] + b_o[j])))


@_loop()
def _lstm_cell(f, c, i, g, c_new):
    for b in prange(f.shape[0]):
        f_b, c_b, i_b, g_b, out = f[b], c[b], i[b], g[b], c_new[b]
        for j in range(f.shape[1]):
            out[j] = _M.lstm_cell(f_b[j], c_b[j], i_b[j], g_b[j])


@_loop(cost=2)
def _lstm_backward(grad_h, grad_c, c, i, f, g, o, tc, dgates, dc_prev, one):
    H = c.shape[1]
    for b in prange(c.shape[0]):
        dh_b, dcn_b, c_b, i_b, f_b, g_b, o_b, tc_b = grad_h[b], grad_c[b], c[b], i[b], f[b], g[b], o[b], tc[b]
        d_i, d_f, d_g, d_o = dgates[b, :H], dgates[b, H:2 * H], dgates[b, 2 * H:3 * H], dgates[b, 3 * H:]
        dc_b = dc_prev[b]
        for j in range(H):
            d_i[j], d_f[j], d_g[j], d_o[j], dc_b[j] = _M.lstm_backward(
                dh_b[j], dcn_b[j], c_b[j], i_b[j], f_b[j], g_b[j], o_b[j], tc_b[j], one)


def gru_gates(gi, gh, h, b_hh):
    """One GRU step's gates: (h_new, r, z, n, gh_n) for gi = x @ W_ih^T + b_ih and gh = h @ W_hh^T (without
    b_hh, which may be None); each (batch, hidden)."""
    arrays = _gates.compiled_arrays(np, gi, gh, h, b_hh)
    if arrays is None:
        return _gates.gru_gates(np, sigmoid, gi, gh, h, b_hh)
    gi, gh, h, b_hh = arrays
    r, z, gh_n, n = (np.empty_like(h) for _ in range(4))
    _gru_pre(gi, gh, _gates.or_zeros(np, b_hh, gh.shape[1], h), r, z, gh_n, n, h.dtype.type(1))
    np.tanh(n, out=n)
    h_new = np.empty_like(h)
    _gru_blend(n, z, h, h_new)
    return h_new, r, z, n, gh_n


def gru_gates_backward(grad, h, r, z, n, gh_n):
    """(d gi, d gh, grad * z) of gru_gates: the gradients of gi and of gh + b_hh, and the part of h's
    gradient that does not pass through gh."""
    arrays = _gates.compiled_arrays(np, grad, h, r, z, n, gh_n)
    if arrays is None:
        return _gates.gru_gates_backward(np, grad, h, r, z, n, gh_n)
    grad, h, r, z, n, gh_n = arrays
    batch, hidden = h.shape
    dgi, dgh = np.empty((batch, 3 * hidden), h.dtype), np.empty((batch, 3 * hidden), h.dtype)
    dh = np.empty_like(h)
    _gru_backward(grad, h, r, z, n, gh_n, dgi, dgh, dh, h.dtype.type(1))
    return dgi, dgh, dh


def lstm_gates(gi, gh, c, b_hh):
    """One LSTM step's gates: (h_new, c_new, i, f, g, o, tanh(c_new)) for gi = x @ W_ih^T + b_ih and
    gh = h @ W_hh^T (without b_hh, which may be None); each (batch, hidden)."""
    arrays = _gates.compiled_arrays(np, gi, gh, c, b_hh)
    if arrays is None:
        return _gates.lstm_gates(np, sigmoid, gi, gh, c, b_hh)
    gi, gh, c, b_hh = arrays
    i, f, g, o = (np.empty_like(c) for _ in range(4))
    _lstm_pre(gi, gh, _gates.or_zeros(np, b_hh, gh.shape[1], c), i, f, g, o, c.dtype.type(1))
    np.tanh(g, out=g)
    c_new = np.empty_like(c)
    _lstm_cell(f, c, i, g, c_new)
    tc = np.tanh(c_new)
    return o * tc, c_new, i, f, g, o, tc


def lstm_gates_backward(grad_h, grad_c, c, i, f, g, o, tc):
    """(d gates, d c) of lstm_gates from the gradients of h_new and c_new (either may be None)."""
    arrays = _gates.compiled_arrays(np, c, i, f, g, o, tc, grad_h, grad_c)
    if arrays is None:
        return _gates.lstm_gates_backward(np, grad_h, grad_c, c, i, f, g, o, tc)
    c, i, f, g, o, tc, grad_h, grad_c = arrays
    dgates = np.empty((c.shape[0], 4 * c.shape[1]), c.dtype)
    dc_prev = np.empty_like(c)
    grad_h, grad_c = (_gates.or_zeros(np, a, c.shape, c) for a in (grad_h, grad_c))
    _lstm_backward(grad_h, grad_c, c, i, f, g, o, tc, dgates, dc_prev, c.dtype.type(1))
    return dgates, dc_prev


def lstm_sequence(gi, h0, c0, w_hh, b_hh, reverse):
    """An LSTM layer's sequence in one direction: (states (T, B, H), cells (T, B, H), what backward needs)
    for gi = x @ W_ih^T + b_ih (T, B, 4H), h0 and c0 (B, H), W_hh (4H, H) and b_hh (4H,) or None; reverse
    runs the steps from t = T - 1 down. float32 with a hidden size of whole vectors in fused loops
    (kernels/cpu/_lstm_sequence.py), the rest step by step (kernels/_recurrent_sequence.py)."""
    if lstm_fused.applies(gi, h0, c0, w_hh, b_hh):
        return lstm_fused.forward(gi, h0, c0, w_hh, b_hh, reverse)
    return _sequence.lstm_forward(np, lstm_gates, gi, h0, c0, w_hh, b_hh, reverse)


def lstm_sequence_backward(g_states, g_c, c0, w_hh, cells, gates, reverse):
    """(d gi (T, B, 4H), d h0, d c0) of lstm_sequence from the gradients of its states and of its last cell
    state (either may be None); cells and gates as lstm_sequence returned them."""
    if isinstance(gates, np.ndarray):  # the fused loops' (5, T, B, H); the step path keeps a list
        return lstm_fused.backward(g_states, g_c, c0, w_hh, cells, gates, reverse)
    return _sequence.lstm_backward(np, lstm_gates_backward, g_states, g_c, c0, w_hh, cells, gates, reverse)
