"""Matrix products: matmul's 1-D / batched broadcasting rules, mm, bmm, dot, outer, mv; shape errors.
Cholesky factor and triangular solve (torch.linalg.cholesky, torch.linalg.solve_triangular)."""
import math

import numpy as np
import pytest

import gpunet

from gpunet.ops.linalg import cholesky, positive_definite, solve_triangular
from tests.helpers import check_op, lib

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((1, 3, 4), (2, 4, 2)),
    ((3, 4), (2, 4, 5)),
]


@pytest.mark.parametrize("a,b", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul(a, b, device):
    check_op(lambda x, y: x @ y, a, b, device=device)
    check_op(lambda x, y: lib(x).matmul(x, y), a, b, device=device)


def test_rmatmul_and_numpy_operand(device):
    check_op(lambda x, y: y.__rmatmul__(x), (2, 3), (3, 2), device=device)


def test_mm_bmm_dot_outer_mv(device):
    check_op(lambda x, y: x.mm(y), (3, 4), (4, 2), device=device)
    check_op(lambda x, y: lib(x).mm(x, y), (3, 4), (4, 2), device=device)
    check_op(lambda x, y: x.bmm(y), (2, 3, 4), (2, 4, 2), device=device)
    check_op(lambda x, y: x.dot(y), (5,), (5,), device=device)
    check_op(lambda x, y: lib(x).outer(x, y), (3,), (4,), device=device)
    check_op(lambda x, y: x.mv(y), (3, 4), (4,), device=device)
    check_op(lambda x, y, z: lib(x).addmm(z, x, y, beta=0.5, alpha=2.0), (3, 4), (4, 2), (2,), device=device)
    check_op(lambda x, y, z: lib(x).baddbmm(z, x, y, alpha=0.5), (2, 3, 4), (2, 4, 2), (2, 3, 2),
             device=device)


def test_matmul_integer(device):
    a = gpunet.tensor([[1, 2], [3, 4]], device=device)
    assert (a @ a).tolist() == [[7, 10], [15, 22]] and (a @ a).dtype == gpunet.int64


def test_matmul_shape_error_names_both_shapes(device):
    with pytest.raises(RuntimeError, match=r"matmul.*\(3, 4\).*\(5, 6\)"):
        gpunet.ones(3, 4, device=device) @ gpunet.ones(5, 6, device=device)
    with pytest.raises(RuntimeError, match=r"\(3, 1\).*\(4, 5\)"):  # a 1 is not broadcast silently
        gpunet.ones(3, 1, device=device) @ gpunet.ones(4, 5, device=device)
    with pytest.raises(RuntimeError, match=r"\[3, 4\].*\[4\]"):
        gpunet.ones(3, 4, device=device).mm(gpunet.ones(4, device=device))
    with pytest.raises(RuntimeError, match="1D"):
        gpunet.tensor(1.0, device=device) @ gpunet.ones(2, device=device)
    with pytest.raises(RuntimeError, match="batch"):
        gpunet.ones(2, 3, 4, device=device).bmm(gpunet.ones(3, 4, 5, device=device))
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        gpunet.ones(2, 2, device=device).dot(gpunet.ones(2, device=device))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        gpunet.ones(2, device=device).dot(gpunet.ones(3, device=device))


def test_matmul_batch_broadcast_error(device):
    with pytest.raises(RuntimeError):
        gpunet.ones(2, 3, 4, device=device) @ gpunet.ones(3, 4, 5, device=device)


def test_matmul_mixed_dtypes_promote(device):
    out = gpunet.ones(2, 3, dtype=gpunet.float64, device=device) @ gpunet.ones(3, 2, device=device)
    assert out.dtype == gpunet.float64


def test_matmul_float32_vs_torch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 16, 32)).astype(np.float32)
    b = rng.normal(size=(32, 24)).astype(np.float32)
    mine = gpunet.tensor(a, device=device) @ gpunet.tensor(b, device=device)
    np.testing.assert_allclose(mine.cpu().numpy(),
                               (torch.tensor(a) @ torch.tensor(b)).numpy(), rtol=1e-4, atol=1e-4)


# ---- cholesky, solve_triangular: gpunet's functions against torch.linalg's, gradients by differences ----
def _spd(x):
    """A symmetric positive-definite matrix made from any square x (so that every element of x is free)."""
    return x @ x.mT + 2 * lib(x).eye(x.shape[-1], dtype=x.dtype, device=x.device)


def _linalg(x):
    return lib(x).linalg if lib(x) is not gpunet else None


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, upper, device):
    check_op(lambda x: cholesky(_spd(x), upper=upper), shape, device=device,
             torch_fn=lambda x: _linalg(x).cholesky(_spd(x), upper=upper))


def test_cholesky_reads_one_triangle(device):
    # like torch.linalg.cholesky, only the lower (upper=True: upper) triangle of the input is used
    a = gpunet.tensor([[4.0, 100.0], [2.0, 5.0]], dtype=gpunet.float64, device=device)
    assert np.allclose(cholesky(a).cpu().numpy(), [[2.0, 0.0], [1.0, 2.0]])
    b = gpunet.tensor([[4.0, 2.0], [-7.0, 5.0]], dtype=gpunet.float64, device=device)
    assert np.allclose(cholesky(b, upper=True).cpu().numpy(), [[2.0, 1.0], [0.0, 2.0]])


SOLVE_SHAPES = [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((3, 3), (4, 3, 2)), ((2, 1, 3, 3), (5, 3, 2))]


@pytest.mark.parametrize("a,b", SOLVE_SHAPES, ids=[f"{a}\\{b}" for a, b in SOLVE_SHAPES])
@pytest.mark.parametrize("upper", [False, True])
def test_solve_triangular(a, b, upper, device):
    def fn(x, y):  # a dominant diagonal keeps the system well conditioned
        f = _linalg(x).solve_triangular if lib(x) is not gpunet else solve_triangular
        return f(x + 4 * lib(x).eye(x.shape[-1], dtype=x.dtype, device=x.device), y, upper=upper)
    check_op(fn, a, b, device=device)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular_left_and_unitriangular(left, unitriangular, device):
    def fn(x, y):
        f = _linalg(x).solve_triangular if lib(x) is not gpunet else solve_triangular
        x = x + 4 * lib(x).eye(3, dtype=x.dtype, device=x.device)
        return f(x, y if left else y.mT, upper=False, left=left, unitriangular=unitriangular)
    check_op(fn, (3, 3), (3, 2), device=device)


def test_linalg_errors_name_the_op_and_shapes(device):
    with pytest.raises(RuntimeError, match=r"linalg.cholesky: .*square.*2 by 3"):
        cholesky(gpunet.ones(2, 3, device=device))
    with pytest.raises(RuntimeError, match=r"linalg.cholesky: .*\[2, 2\] is not positive-definite"):
        cholesky(-gpunet.eye(2, device=device))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes.*\(3x3 and 2x1\)"):
        solve_triangular(gpunet.eye(3, device=device), gpunet.ones(2, 1, device=device), upper=False)
    with pytest.raises(RuntimeError, match=r"batch dimensions.*\[2, 3, 3\].*\[4, 3, 1\]"):
        solve_triangular(gpunet.ones(2, 3, 3, device=device), gpunet.ones(4, 3, 1, device=device), upper=True)


def test_solve_triangular_singular_gives_inf_or_nan_as_torch(device):
    a = gpunet.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]], device=device)
    out = solve_triangular(a, gpunet.ones(3, 2, device=device), upper=False).cpu().numpy()
    assert np.allclose(out[0], 1.0) and not np.isfinite(out[1:]).any()


def test_positive_definite_mask(device):
    mats = gpunet.tensor([[[2.0, 0.5], [0.5, 1.0]], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.5], [0.0, 1.0]]],
                         device=device)
    assert positive_definite(mats).tolist() == [True, False, False]  # the last is not symmetric
    odd = gpunet.tensor([[[math.nan, 0.0], [0.0, 1.0]], [[math.inf, 0.0], [0.0, 1.0]]], device=device)
    assert positive_definite(odd).tolist() == [False, False]
