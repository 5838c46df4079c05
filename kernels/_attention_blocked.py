"""Scaled dot-product attention blocked over (batch, query rows), written once against ``xp``.

The FlashAttention scheme on whole-array ops: the forward never holds more than one block of scores
(``rows x S`` per batch entry in the block, about ``budget`` elements); it keeps each query row's
log-sum-exp (``lse``) so the backward recomputes a block's probabilities ``P = exp(s - lse)`` instead of
saving the (L x S) matrix. Every product is one batched BLAS (or cuBLAS) matmul per block.

kernels.cpu runs both passes here on NumPy, with its one-pass Numba row passes between the products
(``rows``, kernels/cpu/_attention_rows.py); kernels.cuda runs the backward here on CuPy, with the array row
passes below (its forward is a fused kernel), and the forward too when a head dim exceeds the kernel's
shared-memory rows.

Arguments, shared by both tables: q (B, L, E), k (B, S, E), v (B, S, Ev), C-contiguous, one float dtype;
``mask``: None or an additive float mask (Bm, Lm, Sm) with Lm in (1, L), Sm in (1, S), batch entry b using
mask[((first + b) // mask_div) % Bm] (``first``: where q's entries start in the whole batch, for a caller
that splits the batch); ``scale``: the factor on q k^T; ``is_causal``: key j > query i is left out.
A causal block takes only the keys up to its last query row: the keys after it are all left out, so their
products are skipped, not computed and masked (at (8, 1024, 64), 256 rows per block, 5/8 of the products;
see CAUSAL_MIN_ROWS). The causal -inf is written in place
(``copyto(..., where=)``); NumPy's three-argument where, a new array, scaled far worse on two threads
(16 x 128 x 128 scores, 200 calls: 45 ms on one thread, 111 ms each on two doing the same; copyto 22/39).
A query row that every key leaves out (all -inf) gives output 0 and gradient 0 (PyTorch's
scaled_dot_product_attention does the same): its lse is stored as +inf, so P = exp(s - lse) = 0.
"""
import math
import sys

DEFAULT_BUDGET = 1 << 18  # score elements per block (1 MiB of float32)
# A causal pass takes its query rows in at least four blocks, of at least this many rows (with several
# batch entries per block), so that the keys past each block's last row are skipped: with four, 5/8 of the
# products. Causal fwd+bwd, float32, two threads, ms, one block of rows / blocks of 64 rows (9 alternating
# rounds): (16, 4, 128, 64) 11.1 / 9.7, (8, 8, 256, 64) 35.0 / 27.1 (PyTorch 7.4, 23.1); 32 rows were
# slower at both (11.8, 31.4), and 64 at (1, 8, 1024, 64) too (52.1 against the budget's 256 rows: 48.9).
CAUSAL_MIN_ROWS = 64


def _blocks(B, L, S, budget, is_causal):
    """(batch entries, query rows) per block: rows first (a causal pass: see CAUSAL_MIN_ROWS), then as
    many batch entries as fit."""
    rows = max(1, min(L, budget // max(S, 1)))
    if is_causal:
        rows = min(rows, max(CAUSAL_MIN_ROWS, -(-L // 4)))
    batch = max(1, min(B, budget // max(rows * S, 1)))
    return batch, rows


def _keys(S, l1, is_causal):
    """How many keys a block of query rows ending at l1 can see."""
    return min(S, l1) if is_causal else S


def _scores(xp, q, kt, mask, mask_div, scale, b0, b1, l0, l1, first, keys):
    """(s, factor): q[b0:b1, l0:l1] @ k[:, :keys]^T, a fresh (b1-b0, l1-l0, keys) array, whose scores are
    factor * s (with a mask: scale * the product + the mask, factor 1; else the product and factor scale,
    applied by the row passes)."""
    s = xp.matmul(q[b0:b1, l0:l1], kt[b0:b1, :, :keys])
    if mask is None:
        return s, scale
    s *= s.dtype.type(scale)
    s += _mask_block(xp, mask, mask_div, first + b0, first + b1, l0, l1)[..., :keys]
    return s, 1.0


# The row passes on a block of scores s (b, rows, keys), each in place. causal_first: the query index of
# the block's first row for a causal pass (row r then keeps the keys up to causal_first + r; the others'
# probabilities are 0), -1 for none. These run on whole arrays (NumPy or CuPy); kernels.cpu passes its
# one-pass Numba versions (kernels/cpu/_attention_rows.py) as ``rows``.

def softmax_numerators(xp, s, scale, causal_first):
    """s = exp(scale * s - m) per row, m the row's max of its kept scores; returns (lse (b, rows): m +
    log(total), +inf where the row keeps no key; total (b, rows, 1): the row's sum, 1 where none)."""
    if scale != 1:
        s *= s.dtype.type(scale)
    _leave_out_causal(xp, s, causal_first)
    m = s.max(axis=-1, keepdims=True)
    m = xp.where(m == -math.inf, s.dtype.type(0), m)  # a row with no key: exp(-inf - 0) = 0
    s -= m
    xp.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    empty = total == 0
    total = xp.where(empty, s.dtype.type(1), total)
    return xp.where(empty, s.dtype.type(math.inf), m + xp.log(total))[..., 0], total


def probabilities(xp, s, scale, causal_first, lse):
    """s = exp(scale * s - lse) per row (the forward's probabilities, from its lse (b, rows))."""
    if scale != 1:
        s *= s.dtype.type(scale)
    _leave_out_causal(xp, s, causal_first)
    s -= lse[..., None]
    xp.exp(s, out=s)


def scores_grad(xp, dp, p, delta, factor):
    """dp = (dp - delta) * p * factor per row (delta (b, rows))."""
    dp -= delta[..., None]
    dp *= p
    if factor != 1:
        dp *= dp.dtype.type(factor)


def _leave_out_causal(xp, s, causal_first):
    if causal_first >= 0:
        rows, keys = s.shape[1:]
        cut = xp.arange(keys)[None, :] > xp.arange(causal_first, causal_first + rows)[:, None]
        xp.copyto(s, s.dtype.type(-math.inf), where=cut)


_ARRAY_ROWS = sys.modules[__name__]  # the row passes above


def _mask_block(xp, mask, mask_div, b0, b1, l0, l1):
    Bm, Lm, _ = mask.shape
    m = mask[:, l0:l1] if Lm > 1 else mask
    if Bm == 1:
        return m
    first, last = (b0 // mask_div) % Bm, ((b1 - 1) // mask_div) % Bm
    if mask_div == 1 and last - first == b1 - b0 - 1:  # consecutive entries: a view
        return m[first:last + 1]
    return m[(xp.arange(b0, b1) // mask_div) % Bm]


def attention_forward(xp, q, k, v, mask, mask_div, scale, is_causal, budget=DEFAULT_BUDGET, first=0,
                      into=None, rows=_ARRAY_ROWS):
    """(out (B, L, Ev), lse (B, L)); lse is +inf on rows with no key left. into: the caller's (out, lse) to
    fill (a caller that splits the batch passes its parts of whole arrays), else new arrays; rows: the row
    passes (see softmax_numerators)."""
    B, L, _ = q.shape
    S, Ev = k.shape[1], v.shape[2]
    if into is None:
        into = xp.empty((B, L, Ev), dtype=q.dtype), xp.empty((B, L), dtype=q.dtype)
    out, lse = into
    if S == 0:
        out[...] = 0
        lse[...] = math.inf
        return out, lse
    kt = k.transpose(0, 2, 1)
    nb, nl = _blocks(B, L, S, budget, is_causal)
    for b0 in range(0, B, nb):
        b1 = min(B, b0 + nb)
        for l0 in range(0, L, nl):
            l1 = min(L, l0 + nl)
            keys = _keys(S, l1, is_causal)
            p, factor = _scores(xp, q, kt, mask, mask_div, scale, b0, b1, l0, l1, first, keys)
            lse[b0:b1, l0:l1], total = rows.softmax_numerators(xp, p, factor, l0 if is_causal else -1)
            o = xp.matmul(p, v[b0:b1, :keys])
            o /= total
            out[b0:b1, l0:l1] = o
    return out, lse


def attention_backward(xp, grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal, needs,
                       budget=DEFAULT_BUDGET, first=0, into=None, rows=_ARRAY_ROWS):
    """(grad_q, grad_k, grad_v, grad_mask) for needs = 4 bools; grad_mask has the mask's (Bm, Lm, Sm) shape.
    into: the caller's (grad_q, grad_k, grad_v) to fill (None where not needed), else new arrays; rows: as
    attention_forward's.

    Per block: P = exp(s - lse), dV += P^T dO, dS = P * (dO V^T - rowsum(dO * O)), dQ = scale dS K,
    dK += scale dS^T Q, dmask += dS summed over the entries and rows that share a mask element.
    """
    B, L, _ = q.shape
    S = k.shape[1]
    dtype = q.dtype.type
    if into is None:
        into = tuple(xp.empty(a.shape, dtype=q.dtype) if n else None for a, n in zip((q, k, v), needs))
    gq, gk, gv = into
    for g, zero in ((gq, not (S and L)), (gk, True), (gv, True)):  # the blocks fill gq, add into gk and gv
        if g is not None and zero:
            g[...] = 0
    gm = xp.zeros(mask.shape, dtype=q.dtype) if needs[3] and mask is not None else None
    if S == 0 or L == 0:
        return gq, gk, gv, gm
    delta = (grad_out * out).sum(axis=-1)  # rowsum(dO * O): (B, L)
    kt = k.transpose(0, 2, 1)
    vt = v.transpose(0, 2, 1)
    nb, nl = _blocks(B, L, S, budget, is_causal)
    need_ds = needs[0] or needs[1] or gm is not None
    for b0 in range(0, B, nb):
        b1 = min(B, b0 + nb)
        for l0 in range(0, L, nl):
            l1 = min(L, l0 + nl)
            keys = _keys(S, l1, is_causal)
            p, factor = _scores(xp, q, kt, mask, mask_div, scale, b0, b1, l0, l1, first, keys)
            rows.probabilities(xp, p, factor, l0 if is_causal else -1, lse[b0:b1, l0:l1])
            go = grad_out[b0:b1, l0:l1]
            if gv is not None:
                gv[b0:b1, :keys] += xp.matmul(p.transpose(0, 2, 1), go)
            if not need_ds:
                continue
            dp = xp.matmul(go, vt[b0:b1, :, :keys])
            # dS, in place of dP, scaled once for both products (which then need no temporaries); the mask
            # gradient takes it unscaled
            rows.scores_grad(xp, dp, p, delta[b0:b1, l0:l1], 1.0 if gm is not None else scale)
            if gm is not None:
                _add_mask_grad(xp, gm, dp, mask_div, first + b0, l0, l1)
                dp *= dtype(scale)
            if gq is not None:
                xp.matmul(dp, k[b0:b1, :keys], out=gq[b0:b1, l0:l1])
            if gk is not None:
                gk[b0:b1, :keys] += xp.matmul(dp.transpose(0, 2, 1), q[b0:b1, l0:l1])
    return gq, gk, gv, gm


def _add_mask_grad(xp, gm, ds, mask_div, b0, l0, l1):
    Bm, Lm, Sm = gm.shape
    if Sm == 1:
        ds = ds.sum(axis=-1, keepdims=True)
    if Lm == 1:
        ds = ds.sum(axis=-2, keepdims=True)
    rows = slice(l0, l1) if Lm > 1 else slice(None)
    keys = slice(None) if Sm == 1 else slice(0, ds.shape[-1])
    for i in range(ds.shape[0]):
        gm[((b0 + i) // mask_div) % Bm, rows, keys] += ds[i]
