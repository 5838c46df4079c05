"""Attention kernels: kernels.cpu vs a plain NumPy reference (one (L x S) softmax per batch entry);
kernels.cuda (simulator: the fused forward, the blocked backward on the strict namespace) vs kernels.cpu,
with key counts above one tile (THREADS keys) and head dims above one thread per dim."""
import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cuda as KG
from kernels import _attention_blocked as blocked
from kernels.cuda import attention as cuda_attention
from kernels.cuda._launch import xp as gxp


def reference(q, k, v, mask, mask_div, scale, is_causal):
    """(out, lse, P) straight from the definition; rows with no key: out 0, lse +inf."""
    B, L, _ = q.shape
    S = k.shape[1]
    s = q @ k.transpose(0, 2, 1) * scale
    if mask is not None:
        s = s + mask[(np.arange(B) // mask_div) % mask.shape[0]]
    if is_causal:
        s = np.where(np.arange(S)[None, :] > np.arange(L)[:, None], -np.inf, s)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(s - m)
    total = e.sum(-1, keepdims=True)
    p = np.where(total == 0, 0, e / np.where(total == 0, 1, total))
    lse = np.where(total == 0, np.inf, m + np.log(np.where(total == 0, 1, total)))[..., 0]
    return p @ v, lse, p


def reference_backward(g, q, k, v, mask, mask_div, scale, is_causal):
    _, _, p = reference(q, k, v, mask, mask_div, scale, is_causal)
    gv = p.transpose(0, 2, 1) @ g
    dp = g @ v.transpose(0, 2, 1)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    gm = None
    if mask is not None:
        gm = np.zeros(mask.shape)
        for b in range(q.shape[0]):
            part = ds[b]
            if mask.shape[2] == 1:
                part = part.sum(-1, keepdims=True)
            if mask.shape[1] == 1:
                part = part.sum(-2, keepdims=True)
            gm[(b // mask_div) % mask.shape[0]] += part
    return ds @ k * scale, ds.transpose(0, 2, 1) @ q * scale, gv, gm


CASES = [  # (B, L, S, E, Ev, mask shape or None, mask_div, is_causal)
    (2, 3, 70, 3, 5, None, 1, False),
    (2, 4, 70, 2, 3, None, 1, True),
    (4, 3, 67, 2, 3, (2, 1, 67), 2, False),  # an (N, 1, 1, S) key padding mask over N x 2 heads
    (3, 2, 66, 3, 2, (1, 2, 66), 1, False),  # an (L, S) mask shared by every entry
    (2, 2, 5, 65, 66, (2, 2, 1), 1, False),  # head dims above the 64 threads
]


def _inputs(case, seed=0, dtype=np.float64):
    B, L, S, E, Ev, mshape, div, causal = case
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((B, L, E), (B, S, E), (B, S, Ev)))
    mask = None
    if mshape is not None:
        mask = rng.standard_normal(mshape).astype(dtype)
        mask.reshape(mshape[0], -1)[0] = -np.inf  # the first mask entry leaves rows with no key
        if mshape[2] > 1:
            mask[0, 0, 1] = 0.5
            mask[..., 3] = -np.inf
    return q, k, v, mask, div, causal


@pytest.mark.parametrize("case", CASES)
def test_cpu_forward_and_backward_match_the_definition(case):
    q, k, v, mask, div, causal = _inputs(case)
    out, lse = KC.attention_forward(q, k, v, mask, div, 0.7, causal)
    ref, ref_lse, _ = reference(q, k, v, mask, div, 0.7, causal)
    np.testing.assert_allclose(out, ref, atol=1e-12)
    np.testing.assert_allclose(lse, ref_lse, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    grads = KC.attention_backward(g, q, k, v, out, lse, mask, div, 0.7, causal, (True, True, True, True))
    for mine, want in zip(grads, reference_backward(g, q, k, v, mask, div, 0.7, causal)):
        if want is None:
            assert mine is None
        else:
            np.testing.assert_allclose(mine, want, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("budget", [1, 70, 150])
def test_small_blocks_give_the_same_numbers(budget, causal):
    # budget 1: one query row of one entry per block; 150: two rows; the results must not depend on it
    # (causal blocks also leave out the keys after their last row)
    q, k, v, mask, div, causal = _inputs((4, 3, 67, 2, 3, (2, 3, 67), 2, causal))
    out, lse = blocked.attention_forward(np, q, k, v, mask, div, 0.3, causal, budget=budget)
    ref, ref_lse = blocked.attention_forward(np, q, k, v, mask, div, 0.3, causal)
    np.testing.assert_allclose(out, ref, atol=1e-13)
    g = np.ones_like(out)
    small = blocked.attention_backward(np, g, q, k, v, out, lse, mask, div, 0.3, causal, (True,) * 4,
                                       budget=budget)
    whole = blocked.attention_backward(np, g, q, k, v, ref, ref_lse, mask, div, 0.3, causal, (True,) * 4)
    for a, b in zip(small, whole):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_causal_blocks_of_rows_skip_the_keys_past_them(monkeypatch):
    """A causal pass over 256 rows runs four blocks of 64 rows (all entries in each), each taking only the
    keys up to its last row; the numbers are the definition's."""
    keys = []
    scores = blocked._scores

    def spy(xp, q, kt, mask, mask_div, scale, b0, b1, l0, l1, first, n):
        keys.append((b1 - b0, l0, l1, n))
        return scores(xp, q, kt, mask, mask_div, scale, b0, b1, l0, l1, first, n)

    monkeypatch.setattr(blocked, "_scores", spy)
    q, k, v, mask, div, causal = _inputs((3, 256, 256, 4, 3, None, 1, True))
    out, lse = blocked.attention_forward(np, q, k, v, mask, div, 0.4, causal)
    assert keys == [(3, 0, 64, 64), (3, 64, 128, 128), (3, 128, 192, 192), (3, 192, 256, 256)]
    ref, ref_lse, p = reference(q, k, v, mask, div, 0.4, causal)
    np.testing.assert_allclose(out, ref, atol=1e-12)
    np.testing.assert_allclose(lse, ref_lse, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    needs = (True, True, True, False)
    grads = blocked.attention_backward(np, g, q, k, v, out, lse, mask, div, 0.4, causal, needs)
    for mine, want in zip(grads[:3], reference_backward(g, q, k, v, mask, div, 0.4, causal)[:3]):
        np.testing.assert_allclose(mine, want, atol=1e-11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal_first", [-1, 0, 3, 9], ids=["full", "causal-0", "causal-3", "causal-9"])
def test_cpu_row_passes_equal_the_array_passes(dtype, causal_first):
    """kernels/cpu/_attention_rows.py's one-pass rows against kernels/_attention_blocked.py's array passes,
    with a row of no key (all -inf), a row of some -inf, and a causal start past the keys."""
    from kernels.cpu import _attention_rows as cpu_rows
    rng = np.random.default_rng(3)
    s = (rng.standard_normal((2, 4, 7)) * 3).astype(dtype)
    s[0, 1] = -np.inf
    s[1, 3, :2] = -np.inf
    tol = dict(rtol=3e-6 if dtype == np.float32 else 1e-13, atol=0)
    a, b = s.copy(), s.copy()
    (lse_a, total_a), (lse_b, total_b) = (rows.softmax_numerators(np, x, 0.7, causal_first)
                                          for rows, x in ((blocked, a), (cpu_rows, b)))
    np.testing.assert_allclose(b, a, **tol)
    np.testing.assert_allclose(lse_b, lse_a, **tol)
    np.testing.assert_allclose(total_b, total_a, **tol)
    assert lse_b[0, 1] == np.inf and total_b[0, 1, 0] == 1 and not b[0, 1].any()
    a, b = s.copy(), s.copy()
    blocked.probabilities(np, a, 0.7, causal_first, lse_a)
    cpu_rows.probabilities(np, b, 0.7, causal_first, lse_a)
    np.testing.assert_allclose(b, a, **tol)
    dp = rng.standard_normal(s.shape).astype(dtype)
    delta = rng.standard_normal(s.shape[:2]).astype(dtype)
    da, db = dp.copy(), dp.copy()
    blocked.scores_grad(np, da, a, delta, 0.3)
    cpu_rows.scores_grad(np, db, a, delta, 0.3)
    np.testing.assert_allclose(db, da, **tol)


def test_cpu_row_pass_of_a_nan_row_is_nan():
    from kernels.cpu import _attention_rows as cpu_rows
    s = np.ones((1, 2, 5))
    s[0, 0, 2] = np.nan
    lse, total = cpu_rows.softmax_numerators(np, s, 1.0, -1)
    assert np.isnan(lse[0, 0]) and np.isnan(total[0, 0, 0]) and np.isnan(s[0, 0]).all()
    assert np.isfinite(s[0, 1]).all() and lse[0, 1] == pytest.approx(1 + np.log(5))


@pytest.mark.parametrize("case", CASES)
def test_cpu_batch_split_over_threads_gives_the_same_numbers(case, monkeypatch):
    """Each part of the batch (three here) finds its entries' mask rows (mask_div, Bm) and adds its mask
    gradient to the others' in order."""
    from kernels.cpu import _batch_threads
    monkeypatch.setattr(_batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(_batch_threads, "_thread_count", lambda: 3)
    test_cpu_forward_and_backward_match_the_definition(case)


def test_needs_leave_grads_out():
    q, k, v, mask, div, causal = _inputs(CASES[2])
    out, lse = KC.attention_forward(q, k, v, mask, div, 0.5, causal)
    grads = KC.attention_backward(np.ones_like(out), q, k, v, out, lse, mask, div, 0.5, causal,
                                  (False, True, False, False))
    assert grads[0] is None and grads[2] is None and grads[3] is None and grads[1].shape == k.shape


def test_float16_and_float32_compute_in_float32():
    q, k, v, mask, div, causal = _inputs(CASES[0], dtype=np.float16)
    out, lse = KC.attention_forward(q, k, v, mask, div, 0.5, causal)
    assert out.dtype == np.float16 and lse.dtype == np.float32
    ref, _, _ = reference(*(a.astype(np.float64) for a in (q, k, v)), None, 1, 0.5, False)
    np.testing.assert_allclose(out, ref, atol=2e-3)


@pytest.mark.parametrize("case, dtype", [(c, np.float64) for c in CASES] + [(CASES[2], np.float32)])
def test_cuda_matches_cpu(case, dtype):
    if not KG.available():
        pytest.skip(KG.unavailable_reason())
    q, k, v, mask, div, causal = _inputs(case, dtype=dtype)
    want, want_lse = KC.attention_forward(q, k, v, mask, div, 0.7, causal)
    dev = [None if a is None else gxp.asarray(a) for a in (q, k, v, mask)]
    out, lse = KG.attention_forward(*dev, div, 0.7, causal)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(gxp.asnumpy(out), want, atol=tol, rtol=tol)
    np.testing.assert_allclose(gxp.asnumpy(lse), want_lse, atol=tol, rtol=tol)
    g = np.random.default_rng(2).standard_normal(want.shape).astype(dtype)
    grads = KG.attention_backward(gxp.asarray(g), *dev[:3], out, lse, dev[3], div, 0.7, causal, (True,) * 4)
    cpu = KC.attention_backward(g, q, k, v, want, want_lse, mask, div, 0.7, causal, (True,) * 4)
    for a, b in zip(grads, cpu):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(gxp.asnumpy(a), b, atol=10 * tol, rtol=10 * tol)


def test_cuda_head_dims_above_emax_take_the_blocked_path():
    if not KG.available():
        pytest.skip(KG.unavailable_reason())
    q, k, v, mask, div, causal = _inputs((2, 2, 3, cuda_attention.EMAX + 1, 2, None, 1, True))
    out, lse = KG.attention_forward(gxp.asarray(q), gxp.asarray(k), gxp.asarray(v), None, 1, 0.1, True)
    np.testing.assert_allclose(gxp.asnumpy(out), reference(q, k, v, None, 1, 0.1, True)[0], atol=1e-12)


def test_single_threaded_blas_restores_the_thread_count():
    from kernels.cpu import _blas_threads

    with _blas_threads.single_threaded_blas():
        pass
    api = _blas_threads._api[0]
    if api is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that can be asked")
    get, _ = api
    before = get()
    with _blas_threads.single_threaded_blas():
        assert get() == 1
        with _blas_threads.single_threaded_blas():
            assert get() == 1
        assert get() == 1
    assert get() == before
