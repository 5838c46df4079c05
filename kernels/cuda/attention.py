"""Scaled dot-product attention on the device.

- forward: one fused kernel, one block of THREADS threads per query row. The row's scaled query and its
  output accumulator sit in shared memory; the keys are walked in tiles of THREADS (one key per thread)
  with an online softmax: each tile's scores are reduced to a running max and sum, the accumulator is
  rescaled by exp(m_old - m_new) and the tile's p_j v_j added. Nothing of size (L x S) is written to
  global memory; the row's log-sum-exp is kept for the backward. Head dims above EMAX (the shared-memory
  rows) take the blocked path below instead.
- backward: kernels/_attention_blocked.py on CuPy (cuBLAS matmuls per block of query rows, recomputing
  P from the log-sum-exp), no host synchronisation.

Arguments as in kernels/_attention_blocked.py; float16 computes in float32. In simulator mode the outputs
are allocated NaN-filled so a thread that fails to write shows up in the tests.
"""
import math

import numpy as np

from kernels import _attention_blocked as _blocked
from kernels.cuda._launch import SIMULATOR, cuda, kernel, launch_grid, require, xp

__all__ = ["attention_forward", "attention_backward"]

THREADS = 64  # threads per block = keys per tile (a power of two: the reductions halve it)
EMAX = 256  # the largest head dim (E and Ev) the fused forward holds in shared memory


@kernel
def _attention_fwd(q, k, v, mask, has_mask, n_rows, L, S, E, Ev, Bm, Lm, Sm, mask_div, scale, causal,
                   out, lse):
    row = cuda.blockIdx.x  # b * L + i: one query row per block
    if row >= n_rows:
        return
    t = cuda.threadIdx.x
    qs = cuda.shared.array(EMAX, q.dtype)
    acc = cuda.shared.array(EMAX, q.dtype)
    ps = cuda.shared.array(THREADS, q.dtype)
    red = cuda.shared.array(THREADS, q.dtype)
    zero = q.dtype.type(0)
    one = q.dtype.type(1)
    neg_inf = q.dtype.type(-math.inf)
    b = row // L
    i = row - b * L
    for d in range(t, E, THREADS):
        qs[d] = q[row * E + d] * scale
    for d in range(t, Ev, THREADS):
        acc[d] = zero
    mbase = ((b // mask_div) % Bm) * Lm * Sm
    if Lm > 1:
        mbase += i * Sm
    s_end = S
    if causal and i + 1 < S:
        s_end = i + 1
    m = neg_inf  # running max and sum, the same in every thread
    total = zero
    cuda.syncthreads()
    for j0 in range(0, s_end, THREADS):
        j = j0 + t
        sj = neg_inf
        if j < s_end:
            dot = zero
            kb = (b * S + j) * E
            for d in range(E):
                dot += qs[d] * k[kb + d]
            if has_mask:
                if Sm > 1:
                    dot += mask[mbase + j]
                else:
                    dot += mask[mbase]
            sj = dot
        red[t] = sj
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if t < half and red[t + half] > red[t]:
                red[t] = red[t + half]
            cuda.syncthreads()
            half //= 2
        m_new = red[0]
        if m > m_new:
            m_new = m
        cuda.syncthreads()
        if m_new == neg_inf:  # no key so far: nothing to add, nothing to rescale
            p = zero
            alpha = one
        else:
            p = math.exp(sj - m_new)
            alpha = math.exp(m - m_new)
        ps[t] = p
        red[t] = p
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if t < half:
                red[t] += red[t + half]
            cuda.syncthreads()
            half //= 2
        total = total * alpha + red[0]
        n_tile = s_end - j0
        if n_tile > THREADS:
            n_tile = THREADS
        for d in range(t, Ev, THREADS):
            a = acc[d] * alpha
            vb = (b * S + j0) * Ev + d
            for jj in range(n_tile):
                a += ps[jj] * v[vb + jj * Ev]
            acc[d] = a
        m = m_new
        cuda.syncthreads()
    empty = total == zero
    for d in range(t, Ev, THREADS):
        out[row * Ev + d] = zero if empty else acc[d] / total
    if t == 0:
        lse[row] = -neg_inf if empty else m + math.log(total)


def _compute(*arrays):
    dtype = xp.float32 if arrays[0].dtype == xp.float16 else arrays[0].dtype
    return [None if a is None else xp.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _output(shape, dtype):
    return xp.full(shape, math.nan, dtype=dtype) if SIMULATOR else xp.empty(shape, dtype=dtype)


def attention_forward(q, k, v, mask, mask_div, scale, is_causal):
    """softmax(scale * q k^T + mask) v per batch entry -> (out (B, L, Ev), lse (B, L)), lse in the
    compute dtype."""
    require()
    orig = q.dtype
    q, k, v, mask = _compute(q, k, v, mask)
    B, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    if E > EMAX or Ev > EMAX or S == 0:
        out, lse = _blocked.attention_forward(xp, q, k, v, mask, mask_div, scale, is_causal,
                                              budget=1 << 22)
        return out.astype(orig, copy=False), lse
    out = _output((B, L, Ev), q.dtype)
    lse = _output((B, L), q.dtype)
    if B * L:
        has_mask = mask is not None
        m = mask if has_mask else xp.zeros((1, 1, 1), dtype=q.dtype)
        dtype = np.dtype(q.dtype).type
        launch_grid(_attention_fwd, (B * L,), (THREADS,), q.reshape(-1), k.reshape(-1), v.reshape(-1),
                    m.reshape(-1), has_mask, B * L, L, S, E, Ev, m.shape[0], m.shape[1], m.shape[2],
                    int(mask_div), dtype(scale), bool(is_causal), out.reshape(-1), lse.reshape(-1))
    return out.astype(orig, copy=False), lse


def attention_backward(grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal, needs):
    """(grad_q, grad_k, grad_v, grad_mask), None where needs[i] is false; recomputes P per block from lse."""
    require()
    orig = q.dtype
    grad_out, q, k, v, out, mask = _compute(grad_out, q, k, v, out, mask)
    grads = _blocked.attention_backward(xp, grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal,
                                        needs, budget=1 << 22)
    return tuple(None if g is None else g.astype(orig, copy=False) for g in grads)
