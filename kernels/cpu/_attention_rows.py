"""The row passes of kernels/_attention_blocked.py on the CPU, one Numba pass per row each.

On whole arrays each pass was several NumPy calls over a block of scores (scale, causal -inf, max, subtract,
exp, sum; in the backward subtract, exp, and subtract, multiply, scale), and they cost as much as the block's
two matrix products: a causal (32, 128, 64) forward on one thread spent 1.47 of its 3.0 ms there (the max
along the rows alone 0.54). Here a row stays in the core's cache through each pass: one thread, float32,
(32, 64, 128) scores, ms, arrays / here: softmax_numerators 0.87 / 0.27, probabilities 0.32 / 0.14,
scores_grad 0.16 / 0.05. Keys a causal row leaves out are not computed: the softmax writes them -inf before
its max (whole rows: passing slices of rows cost calls per row, 1.6-2.1x the time), probabilities writes 0.
exp is vexp, the max and the sums the softmax kernels' (kernels/cpu/softmax.py: NaN and inf keep their
meaning). The batch is already split over threads by kernels/cpu/attention.py, so these are serial.
"""
import math

from numba import njit

from kernels.cpu import _exp, softmax
from kernels._shared_jit import cached_as
from kernels.cpu.softmax import _row_max, _row_sum

__all__ = ["probabilities", "scores_grad", "softmax_numerators"]


def _kernel(fn):
    return njit(nogil=True, cache=True, error_model="numpy")(cached_as(fn, softmax, _exp))


@njit(inline="always")
def _kept(K, causal_first, r):
    # how many of K keys row r keeps: those up to its query (causal_first + r) when causal_first >= 0
    return K if causal_first < 0 else max(0, min(K, causal_first + r + 1))


@_kernel
def _softmax_numerators(s, scale, causal_first, lse, total):
    B, R, K = s.shape
    for b in range(B):
        for r in range(R):
            row = s[b, r]
            n = _kept(K, causal_first, r)
            for j in range(n):
                row[j] *= scale
            for j in range(n, K):
                row[j] = -math.inf  # exp gives 0 (whole rows: slices of rows cost calls per row)
            m = _row_max(row)
            if m == -math.inf:  # no key left: probabilities 0
                for j in range(K):
                    row[j] = 0
                lse[b, r] = math.inf
                total[b, r, 0] = 1
                continue
            for j in range(K):  # in place (softmax's _row_exp_store, given one array twice, ran scalar)
                row[j] = _exp.vexp(row[j] - m)
            t = _row_sum(row)
            lse[b, r] = m + math.log(t)
            total[b, r, 0] = t


@_kernel
def _probabilities(s, scale, causal_first, lse):
    B, R, K = s.shape
    for b in range(B):
        for r in range(R):
            row = s[b, r]
            n = _kept(K, causal_first, r)
            m = lse[b, r]
            for j in range(n):
                row[j] = _exp.vexp(row[j] * scale - m)
            for j in range(n, K):
                row[j] = 0


@_kernel
def _scores_grad(dp, p, delta, factor):
    B, R, K = dp.shape
    for b in range(B):
        for r in range(R):
            d = delta[b, r]
            g, q = dp[b, r], p[b, r]
            for j in range(K):
                g[j] = (g[j] - d) * q[j] * factor


def softmax_numerators(xp, s, scale, causal_first):
    """See kernels/_attention_blocked.py's softmax_numerators (xp is NumPy here)."""
    lse = xp.empty(s.shape[:2], s.dtype)
    total = xp.empty(s.shape[:2] + (1,), s.dtype)
    _softmax_numerators(s, s.dtype.type(scale), causal_first, lse, total)
    return lse, total


def probabilities(xp, s, scale, causal_first, lse):
    """See kernels/_attention_blocked.py's probabilities."""
    _probabilities(s, s.dtype.type(scale), causal_first, xp.ascontiguousarray(lse))


def scores_grad(xp, dp, p, delta, factor):
    """See kernels/_attention_blocked.py's scores_grad."""
    _scores_grad(dp, p, xp.ascontiguousarray(delta), dp.dtype.type(factor))
