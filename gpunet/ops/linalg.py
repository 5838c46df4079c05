"""Matrix products: matmul (with PyTorch's 1-D and batched-broadcast rules), mm, bmm, dot, outer; the
Cholesky factor and triangular solves (torch.linalg.cholesky, solve_triangular) that distributions use."""
import numpy as np

from gpunet.amp import _policy as _amp
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import promote, unbroadcast
from gpunet.ops.shape import Reshape
from gpunet.tensor import Tensor, _make


class MatMul(Op):
    _backward_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.device.K.matmul(a, b)

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
        matmul = ctx.device.K.matmul
        if na:
            ga = matmul(g2, b2.swapaxes(-1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(matmul(a2.swapaxes(-1, -2), g2), b2.shape).reshape(b.shape)
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
    if _amp.state.on:  # autocast
        input, other = _amp.cast("matmul", input, other)
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
    if _amp.state.on:  # autocast
        input, mat1, mat2 = _amp.cast("addmm", input, mat1, mat2)
    out = mm(mat1, mat2)
    if alpha != 1:
        out = out * alpha
    return out + (input if beta == 1 else input * beta)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    if _amp.state.on:  # autocast
        input, batch1, batch2 = _amp.cast("baddbmm", input, batch1, batch2)
    out = bmm(batch1, batch2)
    if alpha != 1:
        out = out * alpha
    return out + (input if beta == 1 else input * beta)


# ---- Cholesky factor and triangular solve -----------------------------------------------------------------
class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a matrix function failed on its input (singular, not positive-definite)."""


def _tri_mask(xp, n, lower, unit):
    """Which entries of an (n, n) triangular matrix are read: one triangle, without the diagonal if unit."""
    k = -1 if unit else 0
    return xp.tri(n, k=k, dtype=bool) if lower else xp.tri(n, k=k, dtype=bool).T


def _solve(ctx, a, b, lower):
    return ctx.device.backend.solve_triangular(a, b, lower)


class Cholesky(Op):
    """L lower triangular with L @ L^T = A; only A's lower triangle is read."""
    _backward_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            out = ctx.device.backend.cholesky(a)
        except np.linalg.LinAlgError:
            raise LinAlgError(f"linalg.cholesky: The factorization could not be completed because the input "
                               f"of shape {list(a.shape)} is not positive-definite") from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        # Murray (2016), arXiv 1602.07527: gA = L^-T S L^-1, S the symmetric part of Phi(L^T gL), Phi the
        # lower triangle with its diagonal halved; PyTorch returns this symmetric gradient too
        (out,) = ctx.saved_tensors
        xp = ctx.device.xp
        p = out.swapaxes(-1, -2) @ g
        p = p * xp.tri(p.shape[-1], dtype=bool)
        s = 0.5 * (p + (p * xp.tri(p.shape[-1], k=-1, dtype=bool)).swapaxes(-1, -2))
        upper = out.swapaxes(-1, -2)
        y = _solve(ctx, upper, s, False)  # L^-T S
        return _solve(ctx, upper, y.swapaxes(-1, -2), False).swapaxes(-1, -2)  # (L^-T (L^-T S)^T)^T

    @staticmethod
    def backward_graph(ctx, g):
        (out,) = saved(ctx)  # L, the output: its graph leads back through Cholesky
        xp, n = ctx.device.xp, out._data.shape[-1]
        p = (out.mT @ g) * const(ctx, xp.tri(n, dtype=bool), g._data.dtype)
        s = 0.5 * (p + (p * const(ctx, xp.tri(n, k=-1, dtype=bool), g._data.dtype)).mT)
        y = SolveTriangular.apply(out.mT, s, True, False)
        return SolveTriangular.apply(out.mT, y.mT, True, False).mT


class SolveTriangular(Op):
    """X with A @ X = B, A triangular ((..., n, n), one triangle read), B (..., n, k), equal batch dims."""
    _backward_name = "LinalgSolveTriangularBackward0"

    @staticmethod
    def forward(ctx, a, b, upper, unitriangular):
        xp = ctx.device.xp
        mask = _tri_mask(xp, a.shape[-1], not upper, unitriangular)
        out = _solve(ctx, _used(xp, a, mask, unitriangular), b, not upper)
        ctx.save_for_backward(a, out)  # the input, not the masked copy: create_graph's saved() finds it
        ctx.mask, ctx.lower, ctx.unit = mask, not upper, unitriangular
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        used = _used(ctx.device.xp, a, ctx.mask, ctx.unit)
        na, nb = ctx.needs_input_grad[:2]
        gb = _solve(ctx, used.swapaxes(-1, -2), g, not ctx.lower)  # A^-T gX: A^T has the other triangle
        ga = -(gb @ out.swapaxes(-1, -2)) * ctx.mask if na else None
        return ga, gb if nb else None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, out = saved(ctx)
        mask = const(ctx, ctx.mask, g._data.dtype)
        used = a * mask
        if ctx.unit:
            used = used + const(ctx, ctx.device.xp.eye(a._data.shape[-1], dtype=g._data.dtype))
        gb = SolveTriangular.apply(used.mT, g, ctx.lower, False)  # A^T has the other triangle
        ga = -(gb @ out.mT) * mask if ctx.needs_input_grad[0] else None
        return ga, gb if ctx.needs_input_grad[1] else None, None, None


def _used(xp, a, mask, unit):
    """The triangular matrix solve_triangular reads: a's triangle (a unit diagonal when unit)."""
    used = a * mask
    return used + xp.eye(a.shape[-1], dtype=a.dtype) if unit else used


def _check_square(input, op, name="A"):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(input).__name__}")
    shape = input._data.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are "
                           f"{' by '.join(map(str, shape[-2:]))} matrices (shape {list(shape)})")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: Expected a floating point tensor as input. Got {input.dtype}")


def cholesky(input, *, upper=False):
    """torch.linalg.cholesky: L lower triangular with L @ L^T = input (upper: U = L^T, U^T @ U = input)."""
    _check_square(input, "linalg.cholesky")
    if upper:  # the upper factor of A reads A's upper triangle: it is the lower factor of A^T, transposed
        return Cholesky.apply(input.mT).mT
    return Cholesky.apply(input)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """torch.linalg.solve_triangular: X with A @ X = B (left) or X @ A = B; only A's upper or lower triangle
    is read (and not its diagonal when unitriangular). Batch dims broadcast."""
    op = "linalg.solve_triangular"
    _check_square(A, op)
    if not isinstance(B, Tensor) or B._data.ndim < 2:
        raise RuntimeError(f"{op}: B must be a Tensor of at least 2 dims, got "
                           f"{list(B.shape) if isinstance(B, Tensor) else type(B).__name__}")
    A, B = promote(A, B, op)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    n, rows = A._data.shape[-1], B._data.shape[-2]
    if rows != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B "
                           f"({n}x{n} and {rows}x{B._data.shape[-1]})")
    try:
        batch = np.broadcast_shapes(A._data.shape[:-2], B._data.shape[:-2])
    except ValueError:
        raise RuntimeError(f"{op}: batch dimensions of shapes {list(A._data.shape)} and "
                           f"{list(B._data.shape)} cannot be broadcast") from None
    A = A.expand(batch + A._data.shape[-2:]) if A._data.shape[:-2] != batch else A
    B = B.expand(batch + B._data.shape[-2:]) if B._data.shape[:-2] != batch else B
    return SolveTriangular.apply(A, B, upper, unitriangular)


def positive_definite(input):
    """Bool tensor over the batch: each matrix symmetric (to 1e-6) with a positive smallest eigenvalue, as
    constraints.positive_definite checks; no gradient."""
    a = input._data
    xp = input._device.xp
    finite = xp.isfinite(a)
    ok = xp.isclose(a, a.swapaxes(-1, -2), atol=1e-6).all(axis=(-2, -1)) & finite.all(axis=(-2, -1))
    if a.size:  # nan or inf would stop the eigensolver: those matrices are already refused
        ok &= xp.linalg.eigvalsh(xp.where(finite, a, 0))[..., 0] > 0
    return _make(ok, input._device)
