"""torch.linalg: matrix functions and decompositions over batches of matrices (..., m, n), with gradients.

The differentiable ops live in gpunet.ops (linalg: matmul, cholesky, solve_triangular; linalg_decomp: inv,
det, slogdet, solve, qr, svd, eigh); the norms here are composed from them and from reductions.
"""
import math
import numbers

from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.ops import reduce as _reduce
from gpunet.ops.linalg import LinAlgError, cholesky, matmul, solve_triangular  # noqa: F401
from gpunet.ops.linalg_decomp import (det, eigh, eigvalsh, inv, qr, slogdet, solve, svd,  # noqa: F401
                                      svdvals)
from gpunet.ops.shape import stack as _stack
from gpunet.tensor import Tensor as _Tensor


def _dims(dim, ndim, op):
    out = []
    for d in dim:
        if not -ndim <= d < ndim:
            raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                             f"[{-ndim}, {ndim - 1}], but got {d})")
        out.append(d % ndim)
    return out


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """(sum |x|^ord)^(1/ord) over dim (None: every element); inf/-inf: max/min |x|; 0: the nonzero count."""
    if not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    if not isinstance(x, _Tensor):
        raise TypeError(f"linalg.vector_norm: argument 'x' must be a Tensor, not {type(x).__name__}")
    _reduce._norm_input(x)
    if dtype is not None:
        x = x.to(dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 0:
        dim = None
    if dim is None and keepdim:
        return vector_norm(x, ord, tuple(range(x.ndim)), True)
    if ord == 0:  # the count of nonzeros: differentiable, with a zero gradient, as in PyTorch
        return (x != 0).to(x.dtype).sum(dim, keepdim) + (x * 0).sum(dim, keepdim)
    return _reduce.norm(x, float(ord), dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """'fro', 'nuc', inf/-inf (max/min row sum of |A|), 1/-1 (max/min column sum), 2/-2 (largest/smallest
    singular value), over the two dims `dim`."""
    op = "linalg.matrix_norm"
    if not isinstance(A, _Tensor):
        raise TypeError(f"{op}: argument 'A' must be a Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if A._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {A.dtype}")
    if ord not in ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2):
        raise RuntimeError(f"{op}: Order {ord} not supported.")
    if dtype is not None:
        A = A.to(dtype)
    if len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {dim}")
    d0, d1 = _dims(dim, A.ndim, op)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return _reduce.norm(A, 2.0, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(A.movedim((d0, d1), (-2, -1)))
        out = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    # inf: the largest row sum (sum over the columns d1); 1: the largest column sum
    across, then = (d1, d0) if ord in (math.inf, -math.inf) else (d0, d1)
    sums = A.abs().sum(across, keepdim=True)
    out = sums.amax(then, keepdim=True) if ord > 0 else sums.amin(then, keepdim=True)
    return out if keepdim else out.squeeze((d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """vector_norm when dim is an int or 1-tuple (or A is 1-D with dim None), matrix_norm when dim is a
    2-tuple (or A is 2-D with dim None); ord None with dim None: the 2-norm of every element."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or "
                               f"2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along dim; batch dims broadcast."""
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} "
                           f"and {other.shape[dim]}")
    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions. Got {input.ndim} "
                           f"and {other.ndim}")
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    return _stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], dim)


__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
