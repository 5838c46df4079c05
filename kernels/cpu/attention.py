"""Scaled dot-product attention on NumPy: blocked over query rows with BLAS matmuls per block
(kernels/_attention_blocked.py, shared with kernels.cuda's backward), memory O(block x S), not O(L x S).
The many small products run on one OpenBLAS thread (kernels/cpu/_blas_threads.py says why).

float16 computes in float32. See kernels/_attention_blocked.py for the arguments and the masked-row rule.
"""
import numpy as np

from kernels import _attention_blocked as _blocked
from kernels.cpu._blas_threads import single_threaded_blas

__all__ = ["attention_forward", "attention_backward"]


def _compute(*arrays):
    """The arrays as C-contiguous arrays of the compute dtype (float16 -> float32); None stays None."""
    dtype = np.float32 if arrays[0].dtype == np.float16 else arrays[0].dtype
    return [None if a is None else np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def attention_forward(q, k, v, mask, mask_div, scale, is_causal):
    """softmax(scale * q k^T + mask) v per batch entry -> (out (B, L, Ev), lse (B, L)), lse in the
    compute dtype."""
    orig = q.dtype
    q, k, v, mask = _compute(q, k, v, mask)
    with single_threaded_blas():
        out, lse = _blocked.attention_forward(np, q, k, v, mask, mask_div, scale, is_causal)
    return out.astype(orig, copy=False), lse


def attention_backward(grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal, needs):
    """(grad_q, grad_k, grad_v, grad_mask), None where needs[i] is false; recomputes P per block from lse."""
    orig = q.dtype
    grad_out, q, k, v, out, mask = _compute(grad_out, q, k, v, out, mask)
    with single_threaded_blas():
        grads = _blocked.attention_backward(np, grad_out, q, k, v, out, lse, mask, mask_div, scale, is_causal,
                                            needs)
    return tuple(None if g is None else g.astype(orig, copy=False) for g in grads)
