"""Scaled dot-product attention on NumPy: blocked over query rows with BLAS matmuls per block
(kernels/_attention_blocked.py, shared with kernels.cuda's backward), memory O(block x S), not O(L x S).

The batch (batch x heads) is split over threads like the convolutions' (kernels/cpu/_batch_threads.py):
each part runs its blocks with its small products on one OpenBLAS thread (_blas_threads.py says why), and
NumPy releases the GIL inside each product and elementwise pass. float32, two threads, one part against
two (with causal key skipping, kernels/_attention_blocked.py): (64, 128, 64) full forward 6.1-7.2 -> 3.2-3.4
ms, backward 11.4-12.7 -> 6.8-7.3; (8, 1024, 64) causal forward 45-47 -> 15-19, backward 90 -> 28-32, full
35-37 -> 18-22 and 79-81 -> 40-43. A process can also land in a state where every backward call
page-faults its ~10 MB of temporaries afresh (2,460 faults, +6 ms at (64, 128, 64)): glibc returning
freed blocks to the system, as noted in README's "Training throughput".

float16 computes in float32. See kernels/_attention_blocked.py for the arguments and the masked-row rule.
"""
import numpy as np

from kernels import _attention_blocked as _blocked
from kernels.cpu import _attention_rows
from kernels.cpu._batch_threads import map_batch

__all__ = ["attention_forward", "attention_backward"]


def _compute(*arrays):
    """The arrays as C-contiguous arrays of the compute dtype (float16 -> float32); None stays None."""
    dtype = np.float32 if arrays[0].dtype == np.float16 else arrays[0].dtype
    return [None if a is None else np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _score_bytes(q, k):
    return q.shape[0] * q.shape[1] * k.shape[1] * q.itemsize


def attention_forward(q, k, v, mask, mask_div, scale, is_causal):
    """softmax(scale * q k^T + mask) v per batch entry -> (out (B, L, Ev), lse (B, L)), lse in the
    compute dtype."""
    orig = q.dtype
    q, k, v, mask = _compute(q, k, v, mask)
    out = np.empty(q.shape[:2] + v.shape[2:], q.dtype)
    lse = np.empty(q.shape[:2], q.dtype)

    def run(b0, b1):  # each part fills its rows of out and lse
        _blocked.attention_forward(np, q[b0:b1], k[b0:b1], v[b0:b1], mask, mask_div, scale, is_causal,
                                   first=b0, into=(out[b0:b1], lse[b0:b1]), rows=_attention_rows)

    map_batch(run, q.shape[0], _score_bytes(q, k))
    return out.astype(orig, copy=False), lse


def attention_backward(grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal, needs):
    """(grad_q, grad_k, grad_v, grad_mask), None where needs[i] is false; recomputes P per block from lse."""
    orig = q.dtype
    grad_out, q, k, v, out, mask = _compute(grad_out, q, k, v, out, mask)
    grads = [np.empty(a.shape, q.dtype) if n else None for a, n in zip((q, k, v), needs)]

    def run(b0, b1):  # each part fills its entries of the gradients and returns its own mask gradient
        parts = (a[b0:b1] for a in (grad_out, q, k, v, out, lse))
        into = tuple(None if g is None else g[b0:b1] for g in grads)
        return _blocked.attention_backward(np, *parts, mask, mask_div, scale, is_causal, needs, first=b0,
                                           into=into, rows=_attention_rows)[3]

    mask_grads = map_batch(run, q.shape[0], _score_bytes(q, k))
    grad_mask = mask_grads[0]
    for g in mask_grads[1:]:  # each part summed its own entries' mask gradient: added in order
        if grad_mask is not None:
            grad_mask += g
    return tuple(None if g is None else g.astype(orig, copy=False) for g in grads + [grad_mask])
