"""einsum against PyTorch (values and every gradient, float64) and finite differences; PyTorch's errors."""
import pytest

import gpunet
from tests.helpers import check_op, lib

CASES = [
    ("ij,jk->ik", (3, 4), (4, 2)),  # matmul
    ("ij,jk", (3, 4), (4, 2)),  # implicit output
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 2)),  # batch matmul
    ("ii->", (3, 3)),  # trace
    ("ii->i", (3, 3)),  # diagonal
    ("iij->j", (3, 3, 2)),
    ("i,j->ij", (3,), (4,)),  # outer
    ("i,i->", (4,), (4,)),  # dot
    ("ij->", (3, 4)),  # sum of all
    ("ij->ji", (3, 4)),  # transpose
    ("ij", (3, 4)),  # implicit: identity
    ("ji", (3, 4)),  # implicit: alphabetical, a transpose
    ("...ij,...jk->...ik", (2, 1, 3, 4), (3, 4, 2)),  # ellipsis broadcasting
    ("...ij,...jk", (2, 3, 4), (4, 2)),
    ("i...->...", (3, 2, 2)),
    ("b...,b...->b", (2, 3, 2), (2, 3, 2)),
    ("ij,ij->ij", (2, 3), (1, 3)),  # a size-1 dim broadcasts
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),  # three operands
    ("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),  # bilinear
    ("ijk,k->", (2, 3, 4), (4,)),  # letters only one operand has are summed in its gradient
    ("ab,c->abc", (2, 3), (4,)),
    ("Ab,bA->", (2, 3), (3, 2)),
    ("i j , j k -> i k", (2, 3), (3, 2)),  # spaces
    ("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),  # attention's scores: one batched matmul
    ("bik,bkj->jbi", (2, 3, 4), (2, 4, 5)),  # the product's axes permuted into the output
    ("abc,cd->dba", (2, 3, 4), (4, 1)),
]


@pytest.mark.parametrize("eq_shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_matches_torch(eq_shapes, device):
    eq, *shapes = eq_shapes
    check_op(lambda *xs: lib(xs[0]).einsum(eq, *xs), *shapes, device=device)


def test_einsum_operands_as_list(device):
    check_op(lambda x, y: lib(x).einsum("ij,jk->ik", [x, y]), (2, 3), (3, 2), device=device)


def test_einsum_float32_and_no_grad(device):
    a = gpunet.ones(2, 3, device=device)
    out = gpunet.einsum("ij->j", a)
    assert out.dtype == gpunet.float32 and out.tolist() == [2.0, 2.0, 2.0] and not out.requires_grad


@pytest.mark.parametrize("eq,shapes,match", [
    ("ii->ii", [(2, 2)], "output subscript i appears more than once"),
    ("i->j", [(2,)], "output subscript j does not appear"),
    ("ij->", [(2, 3), (2,)], "more operands were provided"),
    ("ij,jk->", [(2, 3)], "fewer operands were provided"),
    ("ijk->", [(2, 3)], r"number of subscripts in the equation \(3\) does not match"),
    ("...ij,...jk", [(2, 2, 3), (3, 3, 2)], "does not broadcast"),
    ("ij,jk", [(2, 3), (4, 2)], "does not broadcast"),
    ("i1->", [(2, 3)], "invalid subscript"),
])
def test_einsum_errors(eq, shapes, match):
    with pytest.raises(RuntimeError, match=match):
        gpunet.einsum(eq, *[gpunet.ones(*s) for s in shapes])


def test_einsum_dtype_mismatch():
    with pytest.raises(RuntimeError, match="dtype"):
        gpunet.einsum("ij,jk", gpunet.ones(2, 3, dtype=gpunet.float64), gpunet.ones(3, 2))
