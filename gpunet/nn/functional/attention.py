"""scaled_dot_product_attention and multi_head_attention_forward (torch.nn.functional's).

scaled_dot_product_attention runs the ScaledDotProductAttention Op (gpunet/ops/attention.py: blocked or
fused, no saved (L x S) matrix). With dropout_p > 0 it takes the plain path instead (q k^T, softmax,
dropout, @ v through the ordinary ops, which hold the (L x S) probabilities), as dropout needs them.
Masks follow SDPA's convention: a bool mask is True where a query may attend; a float mask is added. A
query row that no key may attend gives output 0 and gradient 0, as PyTorch's SDPA does.

multi_head_attention_forward follows nn.MultiheadAttention's conventions instead: bool masks are True
where attention is NOT allowed. With need_weights it computes the (L x S) weights explicitly (a fully
masked row gives NaN there, as in PyTorch); without, it calls scaled_dot_product_attention.
"""
import math

from gpunet.nn.functional._common import check_same_device
from gpunet.nn.functional._padding import pad
from gpunet.nn.functional.dropout import dropout
from gpunet.nn.functional.linear import linear
from gpunet.ops._checks import check_float, check_tensor
from gpunet.ops.attention import ScaledDotProductAttention
from gpunet.dtypes import bool_
from gpunet.ops.creation import ones, zeros
from gpunet.ops.shape import cat
from gpunet.ops.softmax import softmax

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_OP = "scaled_dot_product_attention"


def _check_sdpa(query, key, value, attn_mask):
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_float(t, _OP, name)
        if t._data.ndim < 2:
            raise RuntimeError(f"{_OP}(): {name} must have at least 2 dims (..., seq, features), got shape "
                               f"{list(t._data.shape)}")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead.")
    if query._data.shape[-1] != key._data.shape[-1]:
        raise RuntimeError(f"{_OP}(): query and key must have the same last dim, got query "
                           f"{list(query._data.shape)} and key {list(key._data.shape)}")
    if key._data.shape[-2] != value._data.shape[-2]:
        raise RuntimeError(f"{_OP}(): key and value must have the same sequence length (dim -2), got key "
                           f"{list(key._data.shape)} and value {list(value._data.shape)}")
    if attn_mask is not None:
        check_tensor(attn_mask, "attn_mask", _OP)
        if attn_mask._data.dtype.kind not in "fb":
            raise RuntimeError(f"{_OP}(): expected attn_mask dtype to be bool or float, got "
                               f"{attn_mask.dtype}")
    check_same_device(_OP, query, key, value, attn_mask)


def _broadcast_batch(query, key, value):
    """query, key, value expanded to one batch shape (differentiably: the gradients sum back)."""
    shapes = [t._data.shape[:-2] for t in (query, key, value)]
    if shapes[0] == shapes[1] == shapes[2]:
        return query, key, value
    nd = max(len(s) for s in shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    batch = []
    for dims in zip(*padded):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise RuntimeError(f"{_OP}(): the batch dims of query {list(query._data.shape)}, key "
                               f"{list(key._data.shape)} and value {list(value._data.shape)} do not "
                               "broadcast")
        batch.append(sizes.pop() if sizes else 1)
    batch = tuple(batch)
    return tuple(t.expand(*(batch + tuple(t._data.shape[-2:]))) for t in (query, key, value))


def _repeat_heads(t, n):
    """t (..., H, S, E) -> (..., H * n, S, E), each head repeated n times in place (repeat_interleave)."""
    shape = tuple(t._data.shape)
    lead, (h, s, e) = shape[:-3], shape[-3:]
    return t.unsqueeze(-3).expand(*(lead + (h, n, s, e))).reshape(*(lead + (h * n, s, e)))


def _gqa(query, key, value):
    if query._data.ndim < 3 or key._data.ndim < 3 or value._data.ndim < 3:
        return key, value
    hq, hk, hv = query._data.shape[-3], key._data.shape[-3], value._data.shape[-3]
    if hq % hk or hq % hv:
        raise RuntimeError(f"{_OP}(): with enable_gqa=True the query heads ({hq}) must be a multiple of the "
                           f"key heads ({hk}) and the value heads ({hv})")
    return (key if hk == hq else _repeat_heads(key, hq // hk),
            value if hv == hq else _repeat_heads(value, hq // hv))


def _additive(attn_mask, query):
    """The mask as something the Op adds: a bool mask becomes a raw array of 0 / -inf (no gradient);
    a float mask stays a Tensor, so it gets a gradient when it requires one."""
    if attn_mask is None or attn_mask._data.dtype.kind != "b":
        return attn_mask
    dtype = query._data.dtype.type
    return query._device.xp.where(attn_mask._data, dtype(0), dtype(-math.inf))


def _check_mask_shape(mask_shape, query, key):
    L, S = query._data.shape[-2], key._data.shape[-2]
    batch = tuple(query._data.shape[:-2])
    target = batch + (L, S)
    shape = tuple(mask_shape)
    ok = len(shape) <= len(target) and all(m in (1, t) for m, t in zip(shape[::-1], target[::-1]))
    if not ok:
        raise RuntimeError(f"{_OP}(): attn_mask of shape {list(shape)} does not broadcast to the attention "
                           f"shape {list(target)} (batch..., L, S)")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, scale = 1 / sqrt(E) by default.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev). attn_mask: bool (True = take
    part) or float (added), broadcastable to (..., L, S); is_causal: query i attends keys j <= i (top-left
    aligned); it may not be combined with attn_mask. dropout_p > 0 takes the plain (L x S) path.
    """
    _check_sdpa(query, key, value, attn_mask)
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                           "is_causal=True")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if enable_gqa:
        key, value = _gqa(query, key, value)
    query, key, value = _broadcast_batch(query, key, value)
    if attn_mask is not None:
        _check_mask_shape(attn_mask._data.shape, query, key)
    scale = 1.0 / math.sqrt(query._data.shape[-1]) if scale is None else float(scale)
    if attn_mask is not None and attn_mask._data.dtype.kind == "f" and attn_mask.dtype != query.dtype:
        attn_mask = attn_mask.to(query.dtype)
    if dropout_p > 0.0:
        return _plain_attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return ScaledDotProductAttention.apply(query, key, value, _additive(attn_mask, query), scale,
                                           bool(is_causal))


def _plain_attention(query, key, value, attn_mask, dropout_p, is_causal, scale):
    """The (L x S) path, through ordinary differentiable ops: used for dropout."""
    L, S = query._data.shape[-2], key._data.shape[-2]
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        attn_mask = ones(L, S, dtype=bool_, device=query.device).tril()
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == bool_ else scores + attn_mask
    dead = scores.detach().amax(dim=-1, keepdim=True) == -math.inf  # rows with no key: 0, as SDPA gives
    weights = softmax(scores, -1).masked_fill(dead, 0.0)
    return dropout(weights, dropout_p, True) @ value


def _float_mask(mask, name, dtype):
    """nn.MultiheadAttention's masks as additive float masks: a bool mask's True becomes -inf."""
    if mask is None:
        return None
    check_tensor(mask, name, "multi_head_attention_forward")
    if mask._data.dtype.kind == "b":
        return zeros(tuple(mask._data.shape), dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)
    if mask._data.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


def _project(query, key, value, embed_dim, in_proj_weight, in_proj_bias, use_separate_proj_weight,
             q_proj_weight, k_proj_weight, v_proj_weight):
    if use_separate_proj_weight:
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
        if any(w is None for w in weights):
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
    else:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        weights = in_proj_weight.chunk(3)
    biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    return tuple(linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """nn.MultiheadAttention's computation, sequence-first: query (L, N, E) or (L, E), key/value (S, N, *).

    Returns (output (L, N, E), weights (N, L, S) averaged over heads, (N, H, L, S), or None).
    key_padding_mask (N, S) and attn_mask (L, S) or (N * H, L, S): bool True = not allowed, float added.
    """
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k / static_v are not supported in "
                                  "gpunet")
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_float(t, "multi_head_attention_forward", name)
    batched = query._data.ndim == 3
    if not batched:
        if query._data.ndim != 2:
            raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received "
                                 f"{query._data.ndim}-D query tensor")
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query._data.shape
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if key._data.shape[:2] != value._data.shape[:2]:
        raise AssertionError(f"key shape {list(key._data.shape)} does not match value shape "
                             f"{list(value._data.shape)}")
    dtype = query.dtype
    key_padding_mask = _float_mask(key_padding_mask, "key_padding_mask", dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint says attn_mask is the causal mask: SDPA's is_causal does the same
    else:
        attn_mask = _float_mask(attn_mask, "attn_mask", dtype)
        if key_padding_mask is not None:
            is_causal = False
    q, k, v = _project(query, key, value, embed_dim, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                       q_proj_weight, k_proj_weight, v_proj_weight)
    src_len = key._data.shape[0]
    if attn_mask is not None:
        want = (tgt_len, src_len) if attn_mask._data.ndim == 2 else (bsz * num_heads, tgt_len, src_len)
        if attn_mask._data.ndim not in (2, 3) or tuple(attn_mask._data.shape) != want:
            raise RuntimeError(f"The shape of the {attn_mask._data.ndim}D attn_mask is "
                               f"{list(attn_mask._data.shape)}, but should be {want}.")
        if attn_mask._data.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if bias_k is not None and bias_v is not None:
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be given or both be None")
    bh = bsz * num_heads
    q = q.reshape(tgt_len, bh, head_dim).transpose(0, 1)
    k = k.reshape(k._data.shape[0], bh, head_dim).transpose(0, 1)
    v = v.reshape(v._data.shape[0], bh, head_dim).transpose(0, 1)
    if add_zero_attn:
        k = cat([k, zeros((bh, 1, head_dim), dtype=dtype, device=k.device)], dim=1)
        v = cat([v, zeros((bh, 1, head_dim), dtype=dtype, device=v.device)], dim=1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k._data.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask._data.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask._data.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bh, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        weights = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            weights = weights + attn_mask
        weights = softmax(weights, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = (weights @ v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        if attn_mask._data.shape[0] == 1:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not batched:
        out = out.squeeze(1)
    return out, None
