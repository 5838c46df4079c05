"""softmax / log_softmax Ops: the fused kernels (float32/float64; rows along the last dim, the middle-axis
kernels along another) against PyTorch and against each other; float64 gradchecks through both."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet.ops import softmax as softmax_ops
from tests.helpers import compare, gradcheck, rand, simulated, to_np

OPS = {"softmax": lambda F, x: F.softmax(x, dim=-1), "log_softmax": lambda F, x: F.log_softmax(x, dim=-1)}


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_last_dim_matches_torch_on_wide_rows(name, dtype, device):
    shape = (3, 40) if simulated(device) else (7, 1000)
    compare(OPS[name], rand(*shape, low=-8, high=8), dtype=dtype, fd=False, device=device)


@pytest.mark.parametrize("name", OPS)
def test_fused_gradcheck_float64(name, device):
    c = 3 if simulated(device) else 5  # each evaluation launches Python-run kernels there
    gradcheck(OPS[name], rand(2, c) if simulated(device) else rand(3, c), device=device)
    weights = gpunet.arange(float(c), dtype=gpunet.float64, device=device)
    gradcheck(lambda F, x: OPS[name](F, x) * weights, rand(2, 2, c) if simulated(device) else rand(2, 3, c),
              device=device)


@pytest.mark.parametrize("name", OPS)
def test_middle_dim_matches_torch_and_gradcheck(name, device):
    shape = (2, 3, 2, 2) if simulated(device) else (3, 5, 4, 6)
    fn = getattr(F, name)
    for dtype in ("float32", "float64"):
        compare(lambda F, x: getattr(F, name)(x, dim=1), rand(*shape, low=-8, high=8), dtype=dtype, fd=False,
                device=device)
    small = (1, 3, 1, 2) if simulated(device) else (2, 3, 2, 2)  # the simulator runs Python kernels
    gradcheck(lambda F, x: getattr(F, name)(x, dim=1) * F.softplus(x), rand(*small), device=device)
    assert fn(gpunet.ones(2, 3, device=device), dim=0).shape == (2, 3)


@pytest.mark.parametrize("name", OPS)
def test_last_dim_equals_dim_0_of_the_transpose(name, device):
    x = gpunet.tensor(rand(4, 6, seed=3), device=device, requires_grad=True)
    fused = OPS[name](F, x)  # dim -1: the row kernels
    other = getattr(F, name)(x.t(), dim=0).t()  # dim 0 of the transpose: the middle-axis kernels (outer 1)
    np.testing.assert_allclose(to_np(fused), to_np(other), rtol=1e-13, atol=1e-15)
    g = gpunet.tensor(rand(4, 6, seed=4), device=device)
    (gf,) = gpunet.autograd.grad(fused, x, g)
    (go,) = gpunet.autograd.grad(other, x, g)
    np.testing.assert_allclose(to_np(gf), to_np(go), rtol=1e-12, atol=1e-14)


def test_non_contiguous_last_dim_and_broadcast_grad(device):
    x = rand(6, 4, seed=5)
    compare(lambda F, x: F.softmax(x.t(), dim=-1), x, fd=False, device=device)
    compare(lambda F, x: F.log_softmax(x.t(), dim=1).sum(), x, fd=False, device=device)  # grad: a broadcast


def test_fused_path_is_taken_for_float32_float64():
    a32 = np.zeros((2, 3), np.float32)
    assert softmax_ops._fused(a32) and softmax_ops._fused(a32.astype(np.float64))
    assert not softmax_ops._fused(a32.astype(np.float16)) and not softmax_ops._fused(np.zeros((), np.float32))


@pytest.mark.parametrize("name", OPS)
def test_masked_and_huge_rows_float32(name, device):
    x = np.array([[0.5, -np.inf, 1.0, -np.inf], [-np.inf] * 4, [1e4, 1e4 - 1, -1e4, 0.0]])
    out = compare(OPS[name], x, dtype="float32", fd=False, device=device)
    assert np.isnan(to_np(out)[1]).all()
