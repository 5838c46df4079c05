"""scaled_dot_product_attention (gpunet/ops/attention.py through nn.functional) against PyTorch in float64:
forward and every gradient (query, key, value, a float mask), on cpu and the simulated cuda device;
float64 finite differences; masks, causal, scale, L != S, Ev != E, GQA, broadcast batch dims."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet.ops.attention import canonical_mask

from tests.helpers import compare, gradcheck, rand, simulated, to_np, torch


def sdpa(**kw):
    return lambda F, q, k, v, *m: F.scaled_dot_product_attention(q, k, v, *m, **kw)


QKV = [rand(2, 3, 5, 4, seed=1), rand(2, 3, 7, 4, seed=2), rand(2, 3, 7, 6, seed=3)]  # L 5, S 7, E 4, Ev 6
BOOL = np.random.default_rng(4).random((5, 7)) > 0.4
BOOL[:, 0] = True

CASES = [  # (id, fn, extra arrays)
    ("plain", sdpa(), []),
    ("scale", sdpa(scale=0.3), []),
    ("causal", sdpa(is_causal=True), []),
    ("causal-scale", sdpa(is_causal=True, scale=2.0), []),
    ("bool-mask", sdpa(), [BOOL]),
    ("float-mask-LS", sdpa(), [rand(5, 7, seed=5)]),
    ("float-mask-per-batch", sdpa(), [rand(2, 1, 5, 7, seed=6)]),
    ("key-padding-shape", sdpa(), [rand(2, 1, 1, 7, seed=7)]),
    ("mask-heads-only", sdpa(), [rand(3, 1, 7, seed=8)]),
    ("mask-full", sdpa(scale=0.5), [rand(2, 3, 5, 7, seed=9)]),
]


@pytest.mark.parametrize("fn, extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch(fn, extra, device):
    arrays = QKV + extra
    if simulated(device):  # one fused-kernel block per query row: keep the simulator's work small
        arrays = [a[:1, :2] if a.ndim == 4 and a.shape[0] == 2 else a for a in arrays]
        arrays = [a[:1] if a.ndim == 3 and a.shape[0] == 3 else a for a in arrays]
    compare(fn, *arrays, device=device)


def test_gqa_and_broadcast_batch_dims_match_torch():
    compare(sdpa(enable_gqa=True), rand(2, 4, 3, 2, seed=1), rand(2, 2, 5, 2, seed=2),
            rand(2, 2, 5, 3, seed=3))
    compare(sdpa(), rand(2, 3, 3, 2, seed=1), rand(3, 5, 2, seed=2), rand(5, 3, seed=3))
    compare(sdpa(is_causal=True), rand(4, 2), rand(6, 2, seed=2), rand(6, 3, seed=3))  # unbatched, L < S


def test_causal_with_more_queries_than_keys(device):
    compare(sdpa(is_causal=True), rand(1, 5, 2), rand(1, 3, 2, seed=2), rand(1, 3, 3, seed=3), device=device)


def test_float32_matches_torch():
    compare(sdpa(is_causal=True), *QKV, dtype="float32")


@pytest.mark.parametrize("fn, extra", [(sdpa(), []), (sdpa(is_causal=True, scale=0.7), []),
                                       (sdpa(), [rand(1, 3, 1, 7, seed=5)])])
def test_finite_differences(fn, extra):
    compare(fn, rand(1, 3, 2, 3, seed=1), rand(1, 3, 7, 3, seed=2), rand(1, 3, 7, 2, seed=3), *extra,
            check_torch=False, fd=True)
    gradcheck(lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
              rand(2, 4, 3, seed=1), rand(2, 5, 3, seed=2), rand(2, 5, 2, seed=3))


def test_a_row_no_key_may_attend_gives_zero_output_and_gradient_as_torch(device):
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    compare(sdpa(), rand(1, 3, 2, seed=1), rand(1, 4, 2, seed=2), rand(1, 4, 3, seed=3), mask, device=device)
    fmask = np.zeros((3, 4))
    fmask[2] = -np.inf
    out = compare(sdpa(), rand(1, 3, 2, seed=1), rand(1, 4, 2, seed=2), rand(1, 4, 3, seed=3), fmask,
                  needs=[True, True, True, False], device=device)
    assert np.all(to_np(out)[0, 2] == 0)


def test_dropout_takes_the_plain_path():
    gpunet.manual_seed(0)
    q, k, v = (gpunet.tensor(a, requires_grad=True) for a in QKV)
    assert F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).abs().sum().item() == 0
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True)
    out.sum().backward()
    assert q.grad is not None and np.isfinite(to_np(q.grad)).all()
    assert out.grad_fn.name() != "ScaledDotProductAttentionBackward0"
    plain = F.scaled_dot_product_attention(q, k, v)
    assert plain.grad_fn.name() == "ScaledDotProductAttentionBackward0"


def test_argument_errors():
    q, k, v = (gpunet.tensor(a) for a in QKV)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=gpunet.tensor(BOOL), is_causal=True)
    with pytest.raises(RuntimeError, match="query and key must have the same last dim"):
        F.scaled_dot_product_attention(q, k[..., :2], v)
    with pytest.raises(RuntimeError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=gpunet.zeros(4, 7, dtype=gpunet.float64))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q.float(), k, v)
    with pytest.raises(RuntimeError, match="multiple of the key heads"):
        F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], enable_gqa=True)


def test_float_mask_of_another_dtype_is_cast_as_torch_does():
    if torch is None:
        pytest.skip("torch is not installed")
    mask = rand(5, 7, seed=5).astype(np.float32)
    compare(lambda F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m.float()), *QKV, mask)


def test_canonical_mask_keeps_broadcast_masks_small():
    xp = np
    m, div, wide = canonical_mask(xp, np.zeros((2, 1, 1, 7)), (2, 3), 5, 7)
    assert m.shape == (2, 1, 7) and div == 3 and wide == (2, 1, 1, 7)
    m, div, _ = canonical_mask(xp, np.zeros((5, 7)), (2, 3), 5, 7)
    assert m.shape == (1, 5, 7) and div == 1
    m, div, _ = canonical_mask(xp, np.zeros((3, 1, 7)), (2, 3), 5, 7)
    assert m.shape == (3, 1, 7) and div == 1
    m, div, wide = canonical_mask(xp, np.zeros((2, 1, 4, 5, 7)), (2, 3, 4), 5, 7)  # a 1 inside the run
    assert m.shape == (24, 5, 7) and div == 1 and wide == (2, 3, 4, 5, 7)
