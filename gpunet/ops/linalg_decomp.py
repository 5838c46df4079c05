"""Matrix functions and decompositions (torch.linalg): inv, det, slogdet, solve, qr, svd, eigh, with their
gradients. Every op works on a batch of matrices (..., m, n); LAPACK (NumPy) or cuSOLVER (CuPy) does the
forward work through xp.linalg.

Gradients follow the standard matrix-calculus results (Giles 2008 for inv/det/solve; Walter & Lehmann 2018
for qr; Townsend 2016 for svd; Magnus & Neudecker for eigh). Those of qr, svd and eigh are those of
gauge-invariant functions only (eigenvectors and singular vectors are defined up to sign) and are
ill-defined when eigenvalues or singular values repeat, as PyTorch documents for its own.
"""
from collections import namedtuple

import numpy as np

from gpunet.amp import _policy as _amp
from gpunet.autograd.function import Op
from gpunet.autograd.grad_mode import is_grad_enabled
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import promote
from gpunet.ops.linalg import LinAlgError, _check_square
from gpunet.tensor import Tensor, _make


linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])


def _mT(a):
    return a.swapaxes(-1, -2)


def _first_zero_pivot(host):
    """(batch element, 1-based diagonal element) of the first singular matrix in host (..., n, n): the
    first zero of U's diagonal in LU with partial pivoting, which LAPACK's getrf reports."""
    batch = host.reshape((-1,) + host.shape[-2:]).astype(np.float64)
    n = host.shape[-1]
    for b, m in enumerate(batch):
        u = m.copy()
        for k in range(n):
            p = k + int(np.argmax(np.abs(u[k:, k])))
            if u[p, k] == 0:
                return b, k + 1
            u[[k, p]] = u[[p, k]]
            u[k + 1:] -= np.outer(u[k + 1:, k] / u[k, k], u[k])
    return 0, n  # rounding: LAPACK saw a zero pivot that this elimination did not


def _singular(ctx, a, op, what):
    b, k = _first_zero_pivot(ctx.device.backend.to_host(a))
    where = f"(Batch element {b}): " if a.ndim > 2 else ""
    if what is None:
        return LinAlgError(f"{op}: {where}The diagonal element {k} is zero, the inversion could not be "
                           "completed because the input matrix is singular.")
    return LinAlgError(f"{op}: {where}{what}")


class Inv(Op):
    _backward_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            out = ctx.device.backend.inv(a)
        except np.linalg.LinAlgError:
            raise _singular(ctx, a, "linalg.inv", None) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved_tensors  # d(A^-1) = -A^-1 dA A^-1
        return -(_mT(inv) @ g @ _mT(inv))

    @staticmethod
    def backward_graph(ctx, g):
        (inv,) = saved(ctx)  # the output, whose graph leads back through Inv
        return -(inv.mT @ g @ inv.mT)


class Det(Op):
    _backward_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.device.xp.linalg.det(a)

    @staticmethod
    def backward(ctx, g):
        # d det(A) / dA is A's cofactor matrix; from A = U S Vh it is
        # det(U) det(Vh) U diag(prod_{j!=i} s_j) Vh, defined for singular matrices too (det(A) A^-T is not)
        (a,) = ctx.saved_tensors
        xp = ctx.device.xp
        u, s, vh = xp.linalg.svd(a)
        ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
        before = xp.cumprod(xp.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(s, -1)[..., :-1]], axis=-1), axis=-1), -1)
        sign = xp.linalg.det(u) * xp.linalg.det(vh)
        cof = (u * (before * after)[..., None, :]) @ vh
        return (g * sign)[..., None, None] * cof

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = saved(ctx)
        d = Det.apply(a)
        # det(A) A^-T, differentiable; the cofactor form backward uses for singular A has no graph here
        if ctx.device.backend.to_host((d._data == 0).any()):
            raise NotImplementedError("create_graph=True: the second derivative of linalg.det at a singular "
                                      "matrix is not supported by gpunet (its first derivative is)")
        return (g * d)[..., None, None] * Inv.apply(a).mT


class Slogdet(Op):
    _backward_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, a):
        sign, logabs = ctx.device.xp.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return sign.astype(a.dtype, copy=False), logabs.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g_sign, g_logabs):
        (a,) = ctx.saved_tensors
        if g_logabs is None:
            return ctx.device.xp.zeros_like(a)
        return g_logabs[..., None, None] * _mT(ctx.device.xp.linalg.inv(a))  # d log|det A| = tr(A^-1 dA)

    @staticmethod
    def backward_graph(ctx, g_sign, g_logabs):
        (a,) = saved(ctx)
        if g_logabs is None:  # the sign is piecewise constant
            return const(ctx, ctx.device.xp.zeros_like(a._data))
        return g_logabs[..., None, None] * Inv.apply(a).mT


class Solve(Op):
    """X with A @ X = B, B (..., n, k) with A's batch dims."""
    _backward_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b):
        try:
            x = ctx.device.backend.solve(a, b)
        except np.linalg.LinAlgError:
            raise _singular(ctx, a, "torch.linalg.solve",
                            "The solver failed because the input matrix is singular.") from None
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        gb = ctx.device.backend.solve(_mT(a), g)  # A^-T gX
        return (-(gb @ _mT(x)) if ctx.needs_input_grad[0] else None), gb

    @staticmethod
    def backward_graph(ctx, g):
        a, x = saved(ctx)  # the input A and the output X, both in the graph
        gb = Solve.apply(a.mT, g)
        return (-(gb @ x.mT) if ctx.needs_input_grad[0] else None), gb


def _qr_grad(xp, q, r, gq, gr):
    """Gradient of A = QR (A (..., m, n), m >= n, reduced): Q (gR + tril(M - M^T) R^-T)-style terms
    (Walter & Lehmann 2018), written with triangular solves against R."""
    qdq = _mT(q) @ gq
    rdr = r @ _mT(gr)
    low = xp.tril((qdq - _mT(qdq)) + (rdr - _mT(rdr)))
    def inv_rt(y):  # Y R^-T: solve R X^T = Y^T
        return _mT(xp.linalg.solve(r, _mT(y)))

    return q @ (gr + inv_rt(low)) + inv_rt(gq - q @ qdq)


class QR(Op):
    _backward_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, a, mode):
        xp = ctx.device.xp
        if mode == "r":
            r = xp.linalg.qr(a, mode="r")
            ctx.mode = mode
            return xp.zeros((0,), dtype=a.dtype), r
        q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(a, q, r)
        ctx.mode = mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when "
                               "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                               "differentiate through linalg.qr.")
        a, q, r = ctx.saved_tensors
        xp = ctx.device.xp
        m, n = a.shape[-2:]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and "
                               "nrows > ncols.")
        gq = xp.zeros_like(q) if gq is None else gq
        gr = xp.zeros_like(r) if gr is None else gr
        if m >= n:
            return _qr_grad(xp, q, r, gq, gr), None
        # wide A = [X | Y] = Q [U | V]: X = QU is square; Y = QV adds Y gV^T to Q's gradient
        y, u = a[..., m:], r[..., :m]
        gv = gr[..., m:]
        gx = _qr_grad(xp, q, u, gq + y @ _mT(gv), gr[..., :m])
        return xp.concatenate([gx, q @ gv], axis=-1), None


class SVD(Op):
    _backward_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = ctx.device.xp.linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        # Townsend (2016) on the reduced factors (k = min(m, n)); with full_matrices the extra columns of U
        # and rows of Vh take no part, as in PyTorch
        u, s, vh = ctx.saved_tensors
        xp = ctx.device.xp
        k = s.shape[-1]
        u, vh = u[..., :k], vh[..., :k, :]
        out = 0
        if gs is not None:
            out = (u * gs[..., None, :]) @ vh
        if gu is None and gvh is None:
            return out if gs is not None else xp.zeros(u.shape[:-1] + vh.shape[-1:], dtype=u.dtype), None
        v = _mT(vh)
        s2 = s * s
        diff = s2[..., None, :] - s2[..., :, None]  # s_j^2 - s_i^2
        eye = xp.eye(k, dtype=bool)
        f = xp.where(eye, 0, 1 / xp.where(eye, 1, diff))
        inner = 0
        if gu is not None:
            gu = gu[..., :k]
            ug = _mT(u) @ gu
            inner = (f * (ug - _mT(ug))) * s[..., None, :]
            rest = gu - u @ ug  # (I - U U^T) gU
            out = out + (rest / s[..., None, :]) @ vh
        if gvh is not None:
            gv = _mT(gvh[..., :k, :])
            vg = _mT(v) @ gv
            inner = inner + s[..., :, None] * (f * (vg - _mT(vg)))
            rest = gv - v @ vg  # (I - V V^T) gV
            out = out + u @ (_mT(rest) / s[..., :, None])
        return out + u @ inner @ vh, None


class Eigh(Op):
    _backward_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, a, uplo):
        w, q = ctx.device.xp.linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, q)
        return w, q

    @staticmethod
    def backward(ctx, gw, gq):
        w, q = ctx.saved_tensors
        xp = ctx.device.xp
        inner = 0
        if gq is not None:
            n = w.shape[-1]
            eye = xp.eye(n, dtype=bool)
            diff = w[..., None, :] - w[..., :, None]  # l_j - l_i
            f = xp.where(eye, 0, 1 / xp.where(eye, 1, diff))
            inner = f * (_mT(q) @ gq)
        if gw is not None:
            inner = inner + gw[..., None, :] * xp.eye(w.shape[-1], dtype=w.dtype)
        return q @ inner @ _mT(q), None


# ---- the functions (torch.linalg.* and their top-level aliases) -----------------------------------------
def _fp32(op, *tensors):
    """Autocast runs linear algebra in float32 (PyTorch's float32 list)."""
    return _amp.cast(op, *tensors) if _amp.state.on else tensors


def inv(A):
    (A,) = _fp32("linalg.inv", A)
    _check_square(A, "linalg.inv")
    return Inv.apply(A)


def det(A):
    (A,) = _fp32("linalg.det", A)
    _check_square(A, "linalg.det")
    return Det.apply(A)


def slogdet(A):
    (A,) = _fp32("linalg.slogdet", A)
    _check_square(A, "linalg.slogdet")
    return linalg_slogdet(*Slogdet.apply(A))


def logdet(input):
    """log det(A): nan where det(A) < 0, -inf where it is 0 (torch.logdet)."""
    _check_square(input, "logdet")
    sign, logabs = Slogdet.apply(input)
    return logabs.masked_fill(sign.detach() < 0, float("nan"))


def solve(A, B, *, left=True):
    """X with A @ X = B (left) or X @ A = B. B is a batch of vectors when it is 1-D or has A's shape without
    its last dim; otherwise of matrices. Batch dims broadcast."""
    op = "linalg.solve"
    _check_square(A, op)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: argument 'B' must be a Tensor, not {type(B).__name__}")
    A, B = promote(*_fp32(op, A, B), op)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if vector:
        B = B.unsqueeze(-1)
    n = A.shape[-1]
    if B.shape[-2] != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation "
                           f"{'Ax = b' if vector else 'AX = B'} ({n}x{n} and "
                           f"{'x'.join(map(str, B.shape[-2:] if not vector else B.shape[-2:-1]))})")
    try:
        batch = np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{op}: batch dimensions of shapes {list(A.shape)} and {list(B.shape)} cannot "
                           "be broadcast") from None
    A = A.expand(batch + tuple(A.shape[-2:])) if tuple(A.shape[:-2]) != batch else A
    B = B.expand(batch + tuple(B.shape[-2:])) if tuple(B.shape[:-2]) != batch else B
    x = Solve.apply(A, B)
    return x.squeeze(-1) if vector else x


def _check_matrix(A, op):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: argument 'A' must be a Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if A._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: Expected a floating point tensor as input. Got {A.dtype}")


def qr(A, mode="reduced"):
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    (A,) = _fp32("linalg.qr", A)
    _check_matrix(A, "linalg.qr")
    return linalg_qr(*QR.apply(A, mode))


def svd(A, full_matrices=True):
    (A,) = _fp32("linalg.svd", A)
    _check_matrix(A, "linalg.svd")
    return linalg_svd(*SVD.apply(A, bool(full_matrices)))


def svdvals(A):
    _check_matrix(A, "linalg.svdvals")
    if not (A.requires_grad and is_grad_enabled()):  # no singular vectors needed
        return _make(A._device.xp.linalg.svd(A._data, compute_uv=False), A._device)
    return SVD.apply(A, False)[1]


def eigh(A, UPLO="L"):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    (A,) = _fp32("linalg.eigh", A)
    _check_square(A, "linalg.eigh")
    return linalg_eigh(*Eigh.apply(A, UPLO))


def eigvalsh(A, UPLO="L"):
    return eigh(A, UPLO).eigenvalues
