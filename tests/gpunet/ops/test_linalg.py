"""Matrix products: matmul's 1-D / batched broadcasting rules, mm, bmm, dot, outer, mv; shape errors."""
import numpy as np
import pytest

import gpunet

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
