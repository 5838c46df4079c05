"""Matrix products: matmul (with PyTorch's 1-D and batched-broadcast rules), mm, bmm, dot, outer."""
import numpy as np

from gpunet.autograd.function import Op
from gpunet.ops._util import promote, unbroadcast
from gpunet.ops.shape import Reshape
from gpunet.tensor import Tensor


class MatMul(Op):
    _backward_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        a2 = a[None, :] if a.ndim == 1 else a  # 1-D operands act as a row / a column
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:  # first, so that a 0-d g (vector @ vector) gains an axis before the next line
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        if na:
            ga = g2 @ b2.swapaxes(-1, -2)
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


class UnsafeView(Reshape):
    """Reshape of matmul's own fresh result: not a view of any user tensor, so in-place ops may follow."""
    _backward_name = "UnsafeViewBackward0"
    _is_view = False


def _check(a, b, op):
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(f"{op}: both arguments need to be at least 1D, but they are {a._data.ndim}D and "
                           f"{b._data.ndim}D")
    ka = a._data.shape[-1]
    kb = b._data.shape[0] if b._data.ndim == 1 else b._data.shape[-2]
    if ka != kb:
        raise RuntimeError(f"{op}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
                           f"multiplied ({ka} != {kb})")
    if a._data.ndim > 2 and b._data.ndim > 2:
        try:
            np.broadcast_shapes(a._data.shape[:-2], b._data.shape[:-2])
        except ValueError:
            raise RuntimeError(f"{op}: batch dimensions of shapes {tuple(a._data.shape)} and "
                               f"{tuple(b._data.shape)} cannot be broadcast") from None


def matmul(input, other):
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"matmul(): arguments must be Tensors, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    input, other = promote(input, other, "matmul")
    _check(input, other, "matmul")
    if input._data.ndim > 2 and other._data.ndim == 2:
        # (..., n, k) @ (k, m): fold the batch into one GEMM, the common case of Linear on 3-D input
        lead = input._data.shape[:-1]
        out = MatMul.apply(input.reshape(-1, input._data.shape[-1]), other)
        return UnsafeView.apply(out, lead + (other._data.shape[-1],))
    return MatMul.apply(input, other)


def mm(input, mat2):
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {list(input._data.shape)} and "
                           f"{list(mat2._data.shape)}")
    _check(input, mat2, "mm")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {list(input._data.shape)} and "
                           f"{list(mat2._data.shape)}")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {list(input._data.shape)} and {list(mat2._data.shape)}")
    _check(input, mat2, "bmm")
    return matmul(input, mat2)


def dot(input, other):
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D "
                           "tensors")
    if input._data.shape != other._data.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input._data.shape[0]}] and src "
                           f"[{other._data.shape[0]}] to have the same number of elements, but got "
                           f"{input._data.shape[0]} and {other._data.shape[0]} elements respectively")
    return matmul(input, other)


inner = dot


def mv(input, vec):
    return matmul(input, vec)


def outer(input, vec2):
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    out = mm(mat1, mat2)
    if alpha != 1:
        out = out * alpha
    return out + (input if beta == 1 else input * beta)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    out = bmm(batch1, batch2)
    if alpha != 1:
        out = out * alpha
    return out + (input if beta == 1 else input * beta)

