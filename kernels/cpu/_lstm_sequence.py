"""An LSTM layer's whole sequence in one direction, float32, in two Numba calls (forward, backward).

The step-by-step path (kernels/_recurrent_sequence.py) runs per step a BLAS product h @ W_hh^T, which
packs the recurrent weight afresh on every call, then the gate loops and NumPy's tanh, each a Python call:
in an LSTM(128, 256) layer on a batch of 32 (two threads) a step's forward took ~190 us of product and ~60
of gates, and small layers are all call overhead. Here W_hh is packed once per sequence and each step is
two parallel loops: the product over (block of RB batch rows, block of LANES hidden units) items, the four
gates' pre-activations in 4 x RB vector registers (kernels/cpu/_simd.py; the state's values broadcast
from a transposed copy), then the gates over batch rows in loops LLVM vectorises (sigmoid by
kernels.cpu._exp.vexp, tanh by vexpm1: within 3 float32 ulp of tanh, not NumPy's bits). Backward is two
loops per step as well: the gates' gradients (kernels/_recurrent_math.py's lstm_backward, as the step
path), then dh = d gates @ W_hh over (row block, block of LANES columns) items. 50 steps of 32 x 256, the
loops alone, after one another (two threads): forward 6.0-6.8 ms against 11-15 step by step.

In a layer the gain is smaller: OpenBLAS's worker threads keep spinning for ~0.1 s after the input
projection's GEMM (kernels/cpu/gemm.py) and take a core from these loops (the same forward: 7.5 ms after
idle, 11 ms after a 2-thread GEMM). Hence MAX_STEP_PRODUCT. Taken for float32 with the hidden size a
multiple of LANES (16 with AVX-512, 8 with AVX2); everything else keeps the step-by-step path.
"""
import math

import numpy as np
from numba import njit, prange

from kernels import _recurrent_math
from kernels._shared_jit import cached_as, compile_functions
from kernels.cpu._exp import vexp, vexpm1
from kernels.cpu._simd import LANES, vfmas, vload, vsplats, vstores

__all__ = ["applies", "backward", "forward"]

RB = 4  # batch rows per item: 4 x RB accumulator vectors (16 registers) in the forward's product
# Steps whose product h @ W_hh^T has more multiply-adds keep the step-by-step path. A layer's forward and
# backward, float32, two threads, step by step / here (median ms of 7 rounds in one process, each timed block
# 0.3 s after the other's, so that neither met OpenBLAS's spinning workers of the other; PyTorch in brackets):
# 8 x 200 steps of 64 hidden 10.3 / 5.9 (7.1), 16 x 50 x 256 27.3 / 21.4 (13.9), 16 x 100 x 128 in two
# bidirectional layers 88.4 / 66.6 (46.0), 32 x 100 x 128 27.2 / 24.7 (16.0); past the limit 32 x 50 x 256
# (8.4M) 35.8 / 38.9 (25.3), 64 x 35 x 256 60.7 / 62.0 (42.8).
MAX_STEP_PRODUCT = 1 << 22

_M = compile_functions(_recurrent_math, njit(inline="always"))


def applies(gi, h0, c0, w_hh, b_hh):
    """Whether this file runs the sequence: float32 throughout, a hidden size of whole vectors, and steps of
    at most MAX_STEP_PRODUCT multiply-adds."""
    batch, hidden = h0.shape
    return (hidden % LANES == 0 and batch * 4 * hidden * hidden <= MAX_STEP_PRODUCT
            and all(a is None or a.dtype == np.float32 for a in (gi, h0, c0, w_hh, b_hh)))


def _padded_rows(batch):
    return -(-batch // RB) * RB


def _packed(w_hh):
    """W_hh (4H, H) as (H / LANES, H, 4, LANES): for unit block u and input k, the four gates' LANES
    weights in a row, so an item reads its weights as one stream."""
    H = w_hh.shape[1]
    return np.ascontiguousarray(w_hh.reshape(4, H // LANES, LANES, H).transpose(1, 3, 0, 2)).reshape(-1)


@njit(cache=True, inline="always", fastmath={"contract"})
def _tanh(x, two):
    # tanh(|x|) = -expm1(-2|x|) / (2 + expm1(-2|x|)), accurate near 0 as expm1 is; x's sign put back (-0.0
    # stays -0.0, NaN stays NaN)
    e = vexpm1(-two * abs(x))
    return math.copysign(-e / (two + e), x)


@njit(cache=True, inline="always", fastmath={"contract"})
def _sigmoid(x, one):
    return one / (one + vexp(-x))


def _forward(gi, c0, packed, bias, reverse, hT, gh, states, cells, gates):
    # gi (T, B, 4H) with b_ih; c0 (B, H); bias (4H,): b_hh or zeros; hT (2 * H * Bp,): two transposed
    # states (H, Bp), the first h0, zero-padded rows; gh (Bp * 4H,) work: h @ W_hh^T; states, cells
    # (T, B, H); gates (5, T, B, H): i, f, g, o, tanh(c)
    T, B, G = gi.shape
    H = G // 4
    Bp = hT.size // (2 * H)
    units, row_blocks = H // LANES, Bp // RB
    one, two = np.float32(1), np.float32(2)
    zero = np.zeros(RB, np.float32)
    for s in range(T):
        t = T - 1 - s if reverse else s
        t_prev = t + 1 if reverse else t - 1
        src, dst = (s % 2) * H * Bp, ((s + 1) % 2) * H * Bp
        # gh = h @ W_hh^T, RB rows by LANES units (all four gates) an item, in registers
        for item in prange(units * row_blocks):
            u, b0 = item // row_blocks, (item % row_blocks) * RB
            acc_i = acc_f = acc_g = acc_o = vsplats(zero, 0, RB)
            w0 = u * H * 4 * LANES
            for k in range(H):
                at, w = src + k * Bp + b0, w0 + k * 4 * LANES
                acc_i = vfmas(acc_i, vload(packed, w), hT, at)
                acc_f = vfmas(acc_f, vload(packed, w + LANES), hT, at)
                acc_g = vfmas(acc_g, vload(packed, w + 2 * LANES), hT, at)
                acc_o = vfmas(acc_o, vload(packed, w + 3 * LANES), hT, at)
            at = b0 * G + u * LANES
            vstores(gh, at, G, RB, acc_i)
            vstores(gh, at + H, G, RB, acc_f)
            vstores(gh, at + 2 * H, G, RB, acc_g)
            vstores(gh, at + 3 * H, G, RB, acc_o)
        # the gates, a batch row an item, in loops over the units that LLVM vectorises (computed per item
        # of the product above, on rows of LANES, they stayed scalar: 22 ns an element)
        for b in prange(B):
            gi_i, gi_f, gi_g, gi_o = gi[t, b, :H], gi[t, b, H:2 * H], gi[t, b, 2 * H:3 * H], gi[t, b, 3 * H:]
            gh_b = gh[b * G:(b + 1) * G]
            gh_i, gh_f, gh_g, gh_o = gh_b[:H], gh_b[H:2 * H], gh_b[2 * H:3 * H], gh_b[3 * H:]
            b_i, b_f, b_g, b_o = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
            i_b, f_b, g_b, o_b, tc_b = gates[0, t, b], gates[1, t, b], gates[2, t, b], gates[3, t, b], \
                gates[4, t, b]
            for j in range(H):
                i_b[j] = _sigmoid(gi_i[j] + gh_i[j] + b_i[j], one)
                f_b[j] = _sigmoid(gi_f[j] + gh_f[j] + b_f[j], one)
                g_b[j] = _tanh(gi_g[j] + gh_g[j] + b_g[j], two)
                o_b[j] = _sigmoid(gi_o[j] + gh_o[j] + b_o[j], one)
            c_prev = c0[b] if s == 0 else cells[t_prev, b]
            c_b, h_b = cells[t, b], states[t, b]
            for j in range(H):
                c = _M.lstm_cell(f_b[j], c_prev[j], i_b[j], g_b[j])
                tc = _tanh(c, two)
                c_b[j], tc_b[j], h_b[j] = c, tc, o_b[j] * tc
            for j in range(H):
                hT[dst + j * Bp + b] = h_b[j]


_forward_loop = njit(parallel=True, cache=True, fastmath={"contract"}, error_model="numpy")(
    cached_as(_forward, _recurrent_math))


def forward(gi, h0, c0, w_hh, b_hh, reverse):
    """(states (T, B, H), cells (T, B, H), gates (5, T, B, H)) of the layer's sequence; gi = the input
    projection with b_ih (T, B, 4H), h0 and c0 (B, H), w_hh (4H, H), b_hh (4H,) or None."""
    T, B, _ = gi.shape
    H = h0.shape[1]
    Bp = _padded_rows(B)
    hT = np.zeros(2 * H * Bp, np.float32)
    hT[:H * Bp].reshape(H, Bp)[:, :B] = h0.T
    states, cells = np.empty((T, B, H), np.float32), np.empty((T, B, H), np.float32)
    gates = np.empty((5, T, B, H), np.float32)
    bias = np.zeros(4 * H, np.float32) if b_hh is None else np.ascontiguousarray(b_hh)
    gh = np.empty(Bp * 4 * H, np.float32)
    _forward_loop(np.ascontiguousarray(gi), np.ascontiguousarray(c0), _packed(w_hh), bias, bool(reverse), hT,
                  gh, states, cells, gates)
    return states, cells, gates


def _backward(g_states, c0, packed_t, cells, gates, reverse, dgates, dgT, dh, dc):
    # g_states (T, B, H) (zeros where none came); c0 (B, H); packed_t: W_hh as (H / LANES, 4H, LANES);
    # cells (T, B, H); gates (5, T, B, H) from _forward; dgates (T, B, 4H) out; dgT (4H * Bp,) work, the
    # step's d gates transposed, zero-padded rows; dh (Bp * H,) the gradient reaching the state before
    # each step, zeros at first; dc (B, H) likewise for the cell state, g_c at first
    T, B, G = dgates.shape
    H = G // 4
    Bp = dgT.size // G
    one = np.float32(1)
    zero = np.zeros(RB, np.float32)
    for s in range(T):
        t = s if reverse else T - 1 - s
        t_prev = t + 1 if reverse else t - 1
        for b in prange(B):
            c_prev = c0[b] if s == T - 1 else cells[t_prev, b]
            gs, dh_b, dc_b = g_states[t, b], dh[b * H:(b + 1) * H], dc[b]
            i_b, f_b, g_b, o_b, tc_b = gates[0, t, b], gates[1, t, b], gates[2, t, b], gates[3, t, b], \
                gates[4, t, b]
            d_i, d_f = dgates[t, b, :H], dgates[t, b, H:2 * H]
            d_g, d_o = dgates[t, b, 2 * H:3 * H], dgates[t, b, 3 * H:]
            for j in range(H):
                d_i[j], d_f[j], d_g[j], d_o[j], dc_b[j] = _M.lstm_backward(
                    gs[j] + dh_b[j], dc_b[j], c_prev[j], i_b[j], f_b[j], g_b[j], o_b[j], tc_b[j], one)
            d_b = dgates[t, b]
            for m in range(G):
                dgT[m * Bp + b] = d_b[m]
        # dh = d gates @ W_hh, RB rows by LANES columns an item, in registers
        blocks, row_blocks = H // LANES, Bp // RB
        for item in prange(blocks * row_blocks):
            kb, b0 = item // row_blocks, (item % row_blocks) * RB
            acc = vsplats(zero, 0, RB)
            w0 = kb * G * LANES
            for m in range(G):
                acc = vfmas(acc, vload(packed_t, w0 + m * LANES), dgT, m * Bp + b0)
            vstores(dh, b0 * H + kb * LANES, H, RB, acc)


_backward_loop = njit(parallel=True, cache=True, fastmath={"contract"}, error_model="numpy")(
    cached_as(_backward, _recurrent_math))


def backward(g_states, g_c, c0, w_hh, cells, gates, reverse):
    """(d gates (T, B, 4H), d h0, d c0) of ``forward``'s sequence from the gradients of its states (T, B, H)
    and of its last cell state (B, H); either may be None (no gradient)."""
    _, T, B, H = gates.shape
    Bp = _padded_rows(B)
    if g_states is None:
        g_states = np.zeros((T, B, H), np.float32)
    dc = np.zeros((B, H), np.float32) if g_c is None else np.array(g_c, np.float32, order="C")
    dgates = np.empty((T, B, 4 * H), np.float32)
    dgT = np.zeros(4 * H * Bp, np.float32)
    dh = np.zeros(Bp * H, np.float32)
    packed_t = np.ascontiguousarray(w_hh.reshape(4 * H, H // LANES, LANES).transpose(1, 0, 2)).reshape(-1)
    _backward_loop(np.ascontiguousarray(g_states), np.ascontiguousarray(c0), packed_t, cells, gates,
                   bool(reverse), dgates, dgT, dh, dc)
    return dgates, dh[:B * H].reshape(B, H).copy(), dc
