"""Matrix products: matmul's 1-D / batched broadcasting rules, mm, bmm, dot, outer, mv; shape errors."""
import numpy as np
import pytest

import gpunet

from .helpers import check_op, lib

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
def test_matmul(a, b):
    check_op(lambda x, y: x @ y, a, b)
    check_op(lambda x, y: lib(x).matmul(x, y), a, b)


def test_rmatmul_and_numpy_operand():
    check_op(lambda x, y: y.__rmatmul__(x), (2, 3), (3, 2))


def test_mm_bmm_dot_outer_mv():
    check_op(lambda x, y: x.mm(y), (3, 4), (4, 2))
    check_op(lambda x, y: lib(x).mm(x, y), (3, 4), (4, 2))
    check_op(lambda x, y: x.bmm(y), (2, 3, 4), (2, 4, 2))
    check_op(lambda x, y: x.dot(y), (5,), (5,))
    check_op(lambda x, y: lib(x).outer(x, y), (3,), (4,))
    check_op(lambda x, y: x.mv(y), (3, 4), (4,))
    check_op(lambda x, y, z: lib(x).addmm(z, x, y, beta=0.5, alpha=2.0), (3, 4), (4, 2), (2,))
    check_op(lambda x, y, z: lib(x).baddbmm(z, x, y, alpha=0.5), (2, 3, 4), (2, 4, 2), (2, 3, 2))


def test_matmul_integer():
    a = gpunet.tensor([[1, 2], [3, 4]])
    assert (a @ a).tolist() == [[7, 10], [15, 22]] and (a @ a).dtype == gpunet.int64


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"matmul.*\(3, 4\).*\(5, 6\)"):
        gpunet.ones(3, 4) @ gpunet.ones(5, 6)
    with pytest.raises(RuntimeError, match=r"\(3, 1\).*\(4, 5\)"):  # a 1 is not broadcast silently
        gpunet.ones(3, 1) @ gpunet.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"\[3, 4\].*\[4\]"):
        gpunet.ones(3, 4).mm(gpunet.ones(4))
    with pytest.raises(RuntimeError, match="1D"):
        gpunet.tensor(1.0) @ gpunet.ones(2)
    with pytest.raises(RuntimeError, match="batch"):
        gpunet.ones(2, 3, 4).bmm(gpunet.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        gpunet.ones(2, 2).dot(gpunet.ones(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        gpunet.ones(2).dot(gpunet.ones(3))


def test_matmul_batch_broadcast_error():
    with pytest.raises(RuntimeError):
        gpunet.ones(2, 3, 4) @ gpunet.ones(3, 4, 5)


def test_matmul_mixed_dtypes_promote():
    out = gpunet.ones(2, 3, dtype=gpunet.float64) @ gpunet.ones(3, 2)
    assert out.dtype == gpunet.float64


def test_matmul_float32_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 16, 32)).astype(np.float32)
    b = rng.normal(size=(32, 24)).astype(np.float32)
    np.testing.assert_allclose((gpunet.tensor(a) @ gpunet.tensor(b)).numpy(),
                               (torch.tensor(a) @ torch.tensor(b)).numpy(), rtol=1e-4, atol=1e-4)
