"""linear and bilinear: forward/gradients vs torch, finite differences, shape errors."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import compare, gradcheck, rand


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 5, 3), (3,), (2, 1, 2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias, dtype, device):
    arrays = [rand(*x_shape, seed=1), rand(5, 3, seed=2)] + ([rand(5, seed=3)] if bias else [])
    compare(lambda F, x, w, *b: F.linear(x, w, *b), *arrays, dtype=dtype, fd=dtype == "float64",
            device=device)


def test_linear_one_dim_weight_and_broadcast_bias(device):
    compare(lambda F, x, w: F.linear(x, w), rand(4, 3), rand(3, seed=1), fd=True, device=device)
    compare(lambda F, x, w, b: F.linear(x, w, b), rand(4, 3), rand(5, 3, seed=1), rand(1, seed=2), fd=True,
            device=device)


def test_linear_gradcheck(device):
    gradcheck(lambda F, x, w, b: F.linear(x, w, b), rand(2, 3), rand(4, 3, seed=1), rand(4, seed=2),
              device=device)


def test_linear_shape_error_names_both_shapes(device):
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 5x2\)"):
        F.linear(gpunet.randn(4, 3, device=device), gpunet.randn(2, 5, device=device))
    with pytest.raises(RuntimeError, match=r"\(6x3 and 5x2\)"):
        F.linear(gpunet.randn(2, 3, 3, device=device), gpunet.randn(2, 5, device=device))


def test_linear_dtype_mismatch_raises(device):
    with pytest.raises(RuntimeError, match="same dtype"):
        F.linear(gpunet.randn(2, 3, dtype=gpunet.float64, device=device), gpunet.randn(4, 3, device=device))


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(bias, device):
    arrays = [rand(4, 2, seed=1), rand(4, 3, seed=2), rand(5, 2, 3, seed=3)]
    arrays += [rand(5, seed=4)] if bias else []
    compare(lambda F, a, b, w, *bb: F.bilinear(a, b, w, *bb), *arrays, fd=True, device=device)
    compare(lambda F, a, b, w, *bb: F.bilinear(a, b, w, *bb), *arrays, dtype="float32", device=device)


def test_bilinear_batched_dims_and_errors(device):
    compare(lambda F, a, b, w: F.bilinear(a, b, w), rand(2, 3, 2, seed=1), rand(2, 3, 3, seed=2),
            rand(4, 2, 3, seed=3), device=device)
    with pytest.raises(RuntimeError, match="bilinear"):
        F.bilinear(gpunet.randn(4, 3, device=device), gpunet.randn(4, 3, device=device),
                   gpunet.randn(5, 2, 3, device=device))


def test_linear_float32_stays_float32_on_device(device):
    x = gpunet.randn(3, 4, device=device, requires_grad=True)
    w = gpunet.randn(2, 4, device=device, requires_grad=True)
    y = F.linear(x, w)
    assert y.dtype == gpunet.float32 and y.device.type == device
    y.sum().backward()
    assert x.grad.dtype == gpunet.float32 and np.isfinite(x.grad.cpu().numpy()).all()


def test_linear_detects_inplace_change_of_saved_input(device):
    x = gpunet.randn(2, 3, 4, device=device)
    w = gpunet.randn(5, 4, requires_grad=True, device=device)
    y = F.linear(x, w)
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
