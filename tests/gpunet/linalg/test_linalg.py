"""torch.linalg against PyTorch (values and every gradient, float64, batched) and finite differences; for
qr, svd and eigh, gradients of gauge-invariant functions (PyTorch's documented advice); PyTorch's errors."""
import math

import numpy as np
import pytest

import gpunet
from tests.helpers import check_op, lib, needs_torch, to_numpy

SQUARE = [(3, 3), (2, 3, 3), (2, 1, 4, 4)]


def _sym(x):
    return (x + x.mT) / 2


@pytest.mark.parametrize("shape", SQUARE)
def test_inv_det_slogdet(shape, device):
    check_op(lambda x: lib(x).linalg.inv(x), shape, device=device)
    check_op(lambda x: lib(x).linalg.det(x), shape, device=device)
    check_op(lambda x: tuple(lib(x).linalg.slogdet(x)), shape, device=device)
    check_op(lambda x: lib(x).inverse(x) + x.inverse(), shape, device=device)
    check_op(lambda x: lib(x).det(x) + x.det(), shape, device=device)


def test_logdet(device):
    check_op(lambda x: lib(x).logdet(x @ x.mT), (2, 3, 3), device=device)
    a = gpunet.tensor([[-1.0, 0.0], [0.0, 1.0]], device=device)
    assert math.isnan(gpunet.logdet(a).item())
    assert gpunet.logdet(gpunet.tensor([[1.0, 2.0], [2.0, 4.0]], device=device)).item() == -math.inf


def test_det_gradient_of_a_singular_matrix(device):
    # rank 2: det's gradient is the cofactor matrix, not zero (PyTorch 2.13 gives zero here; finite
    # differences agree with gpunet)
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, 2.0]])
    x = gpunet.tensor(a, device=device, requires_grad=True)
    gpunet.linalg.det(x).backward()
    np.testing.assert_allclose(to_numpy(x.grad), [[2, -1, 0], [-1, 0.5, 0], [0, 0, 0]], atol=1e-12)
    assert gpunet.autograd.gradcheck(gpunet.linalg.det, (x,))


@pytest.mark.parametrize("a,b", [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3, 1)),
                                 ((2, 1, 3, 3), (4, 3, 2))])
def test_solve(a, b, device):
    check_op(lambda x, y: lib(x).linalg.solve(x, y), a, b, device=device)


def test_solve_left_false(device):
    check_op(lambda x, y: lib(x).linalg.solve(x, y, left=False), (3, 3), (2, 3), device=device)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 3), (2, 3, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr(shape, mode, device):
    if mode == "complete" and shape[-2] > shape[-1]:  # not differentiable, as in PyTorch
        check_op(lambda x: tuple(lib(x).linalg.qr(x, mode=mode)), shape, device=device, grad=False)
        return
    check_op(lambda x: tuple(lib(x).linalg.qr(x, mode=mode)), shape, device=device)


def test_qr_gauge_invariant_reconstruction_and_r_mode(device):
    check_op(lambda x: (lambda q, r: q @ r)(*lib(x).linalg.qr(x)), (2, 4, 3), device=device)
    r = check_op(lambda x: lib(x).linalg.qr(x, mode="r")[1], (4, 3), device=device, grad=False)
    assert tuple(r.shape) == (3, 3)
    x = gpunet.randn(4, 3, dtype=gpunet.float64, device=device, requires_grad=True)
    q, r = gpunet.linalg.qr(x, mode="r")
    assert tuple(q.shape) == (0,)
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed when mode='r'"):
        r.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        gpunet.linalg.qr(x, mode="complete")[0].sum().backward()


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 3)])
def test_svd_gauge_invariant_gradients(shape, device):
    check_op(lambda x: lib(x).linalg.svd(x, full_matrices=False)[1], shape, device=device)
    check_op(lambda x: lib(x).linalg.svdvals(x), shape, device=device)
    # U diag(S) Vh, and U U^T, V V^T: independent of the singular vectors' signs
    def reduced(x):
        return lib(x).linalg.svd(x, full_matrices=False)

    check_op(lambda x: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(*reduced(x)), shape, device=device)
    check_op(lambda x: (lambda u, s, vh: (u @ u.mT, vh.mT @ vh * 2))(*reduced(x)), shape, device=device)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
def test_svd_full_matrices(shape, device):
    k = min(shape)  # the columns past k span the null space: any basis of it is right
    check_op(lambda x: (lambda u, s, vh: (u[:, :k] * s @ vh[:k], s))(*lib(x).linalg.svd(x)), shape,
             device=device)
    u, s, vh = gpunet.linalg.svd(gpunet.randn(*shape, dtype=gpunet.float64, device=device))
    assert tuple(u.shape) == (shape[0],) * 2 and tuple(vh.shape) == (shape[1],) * 2
    np.testing.assert_allclose(to_numpy(u.mT @ u), np.eye(shape[0]), atol=1e-12)
    check_op(lambda x: lib(x).linalg.svd(x, full_matrices=True)[1], shape, device=device)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(shape, uplo, device):
    check_op(lambda x: lib(x).linalg.eigh(_sym(x), UPLO=uplo)[0], shape, device=device)
    check_op(lambda x: lib(x).linalg.eigvalsh(_sym(x), UPLO=uplo), shape, device=device)
    def eigh(x):
        return lib(x).linalg.eigh(_sym(x), UPLO=uplo)

    check_op(lambda x: (lambda w, q: (q * w.unsqueeze(-2)) @ q.mT)(*eigh(x)), shape, device=device)
    check_op(lambda x: (lambda w, q: q @ q.mT * 2)(*eigh(x)), shape, device=device)


def test_eigh_reads_one_triangle(device):
    check_op(lambda x: lib(x).linalg.eigvalsh(x), (3, 3), device=device, fd=False)
    check_op(lambda x: lib(x).linalg.eigvalsh(x, UPLO="U"), (3, 3), device=device, fd=False)


@pytest.mark.parametrize("ord", ["fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2])
def test_matrix_norm(ord, device):
    check_op(lambda x: lib(x).linalg.matrix_norm(x, ord=ord), (2, 3, 4), device=device)
    check_op(lambda x: lib(x).linalg.matrix_norm(x, ord=ord, dim=(0, 2), keepdim=True), (3, 2, 4),
             device=device)


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, math.inf, -math.inf, 0])
def test_vector_norm(ord, device):
    check_op(lambda x: lib(x).linalg.vector_norm(x, ord=ord), (3, 4), device=device)
    check_op(lambda x: lib(x).linalg.vector_norm(x, ord=ord, dim=1, keepdim=True), (3, 4), device=device)
    check_op(lambda x: lib(x).linalg.vector_norm(x, ord=ord, dim=(0, 2)), (2, 3, 4), device=device)


def test_norm_dispatch(device):
    check_op(lambda x: lib(x).linalg.norm(x), (2, 3, 4), device=device)
    check_op(lambda x: lib(x).linalg.norm(x, ord=1), (3, 4), device=device)
    check_op(lambda x: lib(x).linalg.norm(x, ord=math.inf), (4,), device=device)
    check_op(lambda x: lib(x).linalg.norm(x, dim=1), (3, 4), device=device)
    check_op(lambda x: lib(x).linalg.norm(x, ord="nuc", dim=(0, 1)), (3, 4), device=device)


def test_matmul_cross_cholesky_solve_triangular(device):
    check_op(lambda x, y: lib(x).linalg.matmul(x, y), (2, 3), (3, 2), device=device)
    check_op(lambda x, y: lib(x).linalg.cross(x, y), (2, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).linalg.cross(x, y, dim=0), (3, 2), (3, 1), device=device)
    def eye(x):
        return lib(x).eye(3, dtype=x.dtype, device=x.device)

    check_op(lambda x: lib(x).linalg.cholesky(x @ x.mT + 3 * eye(x)), (3, 3), device=device)
    check_op(lambda a, b: lib(a).linalg.solve_triangular(a + 4 * eye(a), b, upper=True), (3, 3), (3, 2),
             device=device)


def test_float32(device):
    a = gpunet.tensor(np.eye(3) * 2, dtype=gpunet.float32, device=device)
    assert gpunet.linalg.inv(a).dtype == gpunet.float32
    assert gpunet.linalg.svd(a).S.dtype == gpunet.float32
    assert gpunet.linalg.eigh(a).eigenvalues.dtype == gpunet.float32
    assert gpunet.linalg.slogdet(a).sign.dtype == gpunet.float32


SINGULAR = ("The diagonal element 2 is zero, the inversion could not be completed because the input "
            "matrix is singular.")


def test_singular_errors(device):
    s = [[1.0, 2.0], [2.0, 4.0]]
    with pytest.raises(gpunet.linalg.LinAlgError, match="^linalg.inv: " + SINGULAR):
        gpunet.linalg.inv(gpunet.tensor(s, device=device))
    with pytest.raises(RuntimeError, match=r"^linalg.inv: \(Batch element 1\): " + SINGULAR):
        gpunet.inverse(gpunet.tensor([np.eye(2).tolist(), s], device=device))
    with pytest.raises(RuntimeError, match="torch.linalg.solve: The solver failed because the input "
                                           "matrix is singular."):
        gpunet.linalg.solve(gpunet.tensor(s, device=device), gpunet.ones(2, device=device))


def test_singular_error_matches_torch():
    """A zero column makes the LU's second pivot exactly zero whatever the LAPACK and pivoting (with
    [[1, 2, 3], [4, 5, 6], [7, 8, 9]], PyTorch's float32 inverse on an Intel Xeon returned +-5.6e6
    instead of raising)."""
    torch = needs_torch()
    s = [[1.0, 0.0, 3.0], [4.0, 0.0, 6.0], [7.0, 0.0, 9.0]]
    with pytest.raises(RuntimeError) as expected:
        torch.linalg.inv(torch.tensor(s))
    with pytest.raises(RuntimeError) as got:
        gpunet.linalg.inv(gpunet.tensor(s))
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("fn,name", [(gpunet.linalg.inv, "linalg.inv"), (gpunet.linalg.det, "linalg.det"),
                                     (gpunet.linalg.eigh, "linalg.eigh"),
                                     (gpunet.linalg.slogdet, "linalg.slogdet")])
def test_non_square_errors(fn, name):
    with pytest.raises(RuntimeError, match=f"{name}: A must be batches of square matrices, but they are "
                                           "2 by 3 matrices"):
        fn(gpunet.ones(2, 3))


def test_argument_errors():
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'x'"):
        gpunet.linalg.qr(gpunet.ones(3, 3), mode="x")
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U', but got X"):
        gpunet.linalg.eigh(gpunet.eye(2), UPLO="X")
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Order 3 not supported."):
        gpunet.linalg.matrix_norm(gpunet.ones(2, 2), ord=3)
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        gpunet.linalg.matrix_norm(gpunet.ones(3))
    with pytest.raises(TypeError, match="'ord' must be Number, not str"):
        gpunet.linalg.vector_norm(gpunet.ones(3), ord="fro")
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        gpunet.linalg.inv(gpunet.ones(2, 2, dtype=gpunet.int64))


def test_missing_name_is_explained():
    with pytest.raises(AttributeError, match="torch.linalg.lstsq is part of PyTorch's API"):
        gpunet.linalg.lstsq  # noqa: B018


def test_gradcheck_inv_det_solve(device):
    rng = np.random.default_rng(3)
    a = gpunet.tensor(rng.normal(size=(2, 3, 3)) + 3 * np.eye(3), device=device, requires_grad=True)
    b = gpunet.tensor(rng.normal(size=(2, 3, 2)), device=device, requires_grad=True)
    assert gpunet.autograd.gradcheck(lambda x, y: (gpunet.linalg.inv(x), gpunet.linalg.det(x),
                                                   gpunet.linalg.solve(x, y)), (a, b))
    assert gpunet.autograd.gradcheck(lambda x: gpunet.linalg.svdvals(x).sum() + gpunet.linalg.eigvalsh(
        x @ x.mT).sum(), (a,))
    assert to_numpy(gpunet.linalg.det(a)).shape == (2,)
