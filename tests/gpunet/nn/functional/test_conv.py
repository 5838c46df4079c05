"""conv1d/2d and conv_transpose1d/2d: option grids vs torch, gradcheck, errors, simulated cuda."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from kernels import _conv_im2col
from kernels.cpu import conv as cpu_conv
from tests.helpers import compare, gradcheck, rand, simulated, to_np


CONV2D = [  # (x shape, w shape, kwargs)
    ((2, 3, 6, 5), (4, 3, 3, 3), {}),
    ((2, 3, 6, 5), (4, 3, 3, 2), {"stride": 2, "padding": 1}),
    ((1, 4, 7, 7), (6, 2, 3, 3), {"groups": 2, "dilation": 2, "padding": (2, 1)}),
    ((2, 2, 5, 6), (3, 2, 2, 3), {"stride": (2, 1), "padding": "valid"}),
    ((1, 2, 5, 6), (3, 2, 3, 3), {"padding": "same"}),
    ((1, 2, 5, 6), (3, 2, 2, 4), {"padding": "same", "dilation": (1, 2)}),  # asymmetric 'same'
    ((6, 5, 5), (4, 6, 3, 3), {"padding": 1}),  # unbatched
    ((1, 4, 5, 5), (4, 1, 3, 3), {"groups": 4}),  # depthwise
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on asymmetric 'same' padding
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", CONV2D)
def test_conv2d_matches_torch(xs, ws, kw, bias, device):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2)] + ([rand(ws[0], seed=3)] if bias else [])
    compare(lambda F, x, w, *b: F.conv2d(x, w, *b, **kw), *arrays, device=device)
    compare(lambda F, x, w, *b: F.conv2d(x, w, *b, **kw), *arrays, dtype="float32", atol=1e-5, rtol=1e-4,
            device=device)


def test_conv2d_gradcheck(device):
    # a full Jacobian costs one kernel launch per element and ~25 ms a launch in the simulator: smaller
    # inputs there (same options)
    n, c, h = (1, 1, 3) if simulated(device) else (2, 2, 4)
    gradcheck(lambda F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1), rand(1, c, h, h),
              rand(n, c, 3, 3, seed=1), rand(n, seed=2), device=device)
    gradcheck(lambda F, x, w: F.conv2d(x, w, padding="same", groups=2), rand(1, 2, h - 1, h),
              rand(2, 1, 2, 2, seed=1), device=device)


CONV1D = [((2, 3, 9), (4, 3, 3), {}), ((2, 4, 9), (4, 2, 3), {"stride": 2, "padding": 2, "groups": 2}),
          ((3, 8), (2, 3, 4), {"padding": "same", "dilation": 2}), ((1, 2, 7), (2, 2, 2),
                                                                    {"padding": "same"})]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("xs,ws,kw", CONV1D)
def test_conv1d_matches_torch(xs, ws, kw, device):
    # finite differences cost two launches an element, ~50 ms in the simulator: there the gradients are
    # checked against torch here and by finite differences in the gradcheck tests
    compare(lambda F, x, w, b: F.conv1d(x, w, b, **kw), rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0],
                                                                                                   seed=3),
            fd=not simulated(device), device=device)


CONVT2D = [
    ((2, 3, 4, 5), (3, 4, 3, 3), {}),
    ((1, 4, 3, 4), (4, 3, 3, 2), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 3, 3), (4, 2, 3, 3), {"groups": 2, "dilation": 2, "stride": (2, 1), "output_padding": (1, 0)}),
    ((3, 4, 4), (3, 2, 2, 2), {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", CONVT2D)
def test_conv_transpose2d_matches_torch(xs, ws, kw, bias, device):
    c_out = ws[1] * kw.get("groups", 1)
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2)] + ([rand(c_out, seed=3)] if bias else [])
    compare(lambda F, x, w, *b: F.conv_transpose2d(x, w, *b, **kw), *arrays, device=device)
    compare(lambda F, x, w, *b: F.conv_transpose2d(x, w, *b, **kw), *arrays, dtype="float32", atol=1e-5,
            rtol=1e-4, device=device)


def test_conv_transpose_gradcheck_and_1d(device):
    sim = simulated(device)  # smaller inputs and no finite differences in conv_transpose1d: see above
    gradcheck(lambda F, x, w, b: F.conv_transpose2d(x, w, b, stride=2, output_padding=1),
              rand(1, 2, 2, 2 if sim else 3), rand(2, 1 if sim else 2, 2, 2, seed=1),
              rand(1 if sim else 2, seed=2), device=device)
    compare(lambda F, x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=2),
            rand(2, 3, 4, seed=1), rand(3, 2, 4, seed=2), rand(2, seed=3), fd=not sim, device=device)


def test_conv2d_weight_only_gradient(device):
    x = gpunet.tensor(rand(1, 2, 4, 4), device=device)
    w = gpunet.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True, device=device)
    F.conv2d(x, w).sum().backward()
    assert w.grad.shape == (3, 2, 3, 3) and x.grad is None


def test_conv2d_channel_mismatch_names_expected_and_got(device):
    with pytest.raises(RuntimeError,
                       match=r"expected input\[2, 4, 5, 5\] to have 3 channels, but got 4 channels"):
        F.conv2d(gpunet.randn(2, 4, 5, 5, device=device), gpunet.randn(8, 3, 3, 3, device=device))
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 3"):
        F.conv_transpose2d(gpunet.randn(1, 3, 5, 5, device=device), gpunet.randn(4, 2, 3, 3, device=device))


def test_conv2d_argument_errors(device):
    x = gpunet.randn(1, 2, 4, 4, device=device)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(x, gpunet.randn(1, 2, 5, 5, device=device))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, gpunet.randn(1, 2, 3, 3, device=device), stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        F.conv2d(x, gpunet.randn(1, 2, 3, 3, device=device), padding="full")
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to "
                                           "conv2d"):
        F.conv2d(gpunet.randn(4, 4, device=device), gpunet.randn(1, 2, 3, 3, device=device))
    with pytest.raises(RuntimeError, match="Input type"):
        F.conv2d(x.double(), gpunet.randn(1, 2, 3, 3, device=device))
    with pytest.raises(RuntimeError, match="expected bias to be 1-D with 3 elements"):
        F.conv2d(x, gpunet.randn(3, 2, 3, 3, device=device), gpunet.randn(2, device=device))
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.conv2d(gpunet.randn(1, 4, 4, 4, device=device), gpunet.randn(3, 2, 3, 3, device=device), groups=2)
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, gpunet.randn(2, 2, 3, 3, device=device), output_padding=1)


def test_conv2d_float32_result_dtype(device):
    y = F.conv2d(gpunet.randn(1, 2, 4, 4, device=device), gpunet.randn(3, 2, 3, 3, device=device))
    assert y.dtype == gpunet.float32 and y.shape == (1, 3, 2, 2)
    assert np.isfinite(to_np(y)).all()


def test_conv2d_backward_reuses_forward_columns(monkeypatch, device):
    # the weight gradient reads the im2col columns forward kept: backward runs no im2col, frees them
    # with the other saved values, and a frozen weight keeps none
    calls = []
    if device == "cpu":
        backend = cpu_conv._CPU
    else:
        from kernels.cuda import conv as cuda_conv
        backend = cuda_conv._CUDA
    real = backend.im2col
    monkeypatch.setattr(backend, "im2col", lambda *a: calls.append(1) or real(*a))
    x = gpunet.tensor(rand(2, 3, 6, 5, seed=1), requires_grad=True, device=device)
    w = gpunet.tensor(rand(4, 3, 3, 3, seed=2), requires_grad=True, device=device)
    y = F.conv2d(x, w, padding=1)
    assert len(calls) == 1 and y.grad_fn._saved[2] is not None
    y.sum().backward()
    assert len(calls) == 1 and y.grad_fn._saved is None
    gw = to_np(w.grad)
    w.grad = None
    monkeypatch.setattr(backend, "im2col", real)
    monkeypatch.setattr(_conv_im2col, "KEEP_COLUMNS_BYTES", 0)  # recomputed in backward: same gradient
    F.conv2d(x, w, padding=1).sum().backward()
    np.testing.assert_array_equal(to_np(w.grad), gw)
    w.requires_grad_(False)
    assert F.conv2d(x, w, padding=1).grad_fn._saved[2] is None
