"""kernels.cpu's Winograd F(2x2, 3x3) conv2d forward and weight gradient (kernels/cpu/_conv_winograd.py: 3x3,
stride 1, many channels): im2col + GEMM's numbers for odd and even sizes, any padding, the batch split and
chunked; the input gradient of "same"-padded layers through its forward; where it applies."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _batch_threads as batch_threads
from kernels.cpu import _conv_batch_inner as batch_inner
from kernels.cpu import _conv_direct as direct
from kernels.cpu import _conv_winograd as winograd
from kernels.cpu import conv as cpu_conv
from kernels.cpu._simd import LANES
from tests.kernels.test_conv import _tol

pytestmark = pytest.mark.usefixtures("without_vector_loops")  # float32 forwards keep Winograd

SHAPES = [(2, 3, 8, 10, 5, 1), (3, 2, 7, 9, 4, 1), (2, 3, 6, 5, 3, 0), (1, 2, 5, 6, 6, 2), (4, 1, 3, 3, 2, 0)]
SHAPE_IDS = ["even", "odd", "odd-unpadded", "padding-2", "one-tile"]


def _spy(monkeypatch, name):
    calls = []
    loop = getattr(winograd, name)
    monkeypatch.setattr(winograd, name, lambda *a: calls.append(a[0].shape[0]) or loop(*a))
    return calls


def _small_layers_too(monkeypatch):
    """Small test layers take the Winograd path (the direct loops, which would serve them, switched off)."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_PLANE", 1)
    monkeypatch.setattr(winograd, "WEIGHT_GRAD_MIN_PIXELS", 1)  # its weight gradient on any machine
    monkeypatch.setattr(batch_inner, "MIN_ROW_RUN", 1 << 62)
    monkeypatch.setattr(direct, "DIRECT_MIN_RUN", 1 << 62)


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30], ids=["one-sample-chunks", "one-chunk"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_winograd_forward_equals_im2col(monkeypatch, shape, dtype, chunk_bytes):
    """Split over three threads, each part one chunk or one sample at a time: im2col + GEMM's numbers,
    with and without bias (the Winograd path is spied to run)."""
    N, C, H, W, C_out, p = shape
    rng = np.random.default_rng(31)
    x = rng.standard_normal((3 * N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C_out, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    _small_layers_too(monkeypatch)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    calls = _spy(monkeypatch, "_input_tiles")
    for bias in (b, None):
        calls.clear()
        got = KC.conv2d_forward(x, w, bias, 1, p, 1, 1)
        assert sum(calls) == 3 * N and len(calls) == (3 * N if chunk_bytes == 1 else 3)
        want = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, bias, 1, p, 1, 1, False)
        assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, **_tol(dtype))


def test_winograd_float32_error_is_a_few_roundings():
    """A ResNet-like layer (64 -> 64 channels, 576 products per output) in float32 against float64: the
    largest error is within 2e-6 of the largest output (measured 3-6e-7; the GEMM path's 5-7e-7)."""
    rng = np.random.default_rng(32)
    x, w = rng.standard_normal((2, 64, 16, 16)), rng.standard_normal((64, 64, 3, 3))
    g = conv2d_geometry("test", x, w, None, 1, 1, 1, 1)
    assert winograd.applies(g, x, w)
    want = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, None, 1, 1, 1, 1, False)
    got = KC.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, 1, 1, 1, 1)
    assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30], ids=["one-sample-chunks", "one-chunk"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_winograd_weight_grad_equals_im2col(monkeypatch, shape, dtype, chunk_bytes):
    """The weight gradient split over three threads, each part one chunk or one sample at a time, grad_y
    not contiguous: im2col + GEMM's numbers (the Winograd grad-tile loop is spied to run)."""
    N, C, H, W, C_out, p = shape
    rng = np.random.default_rng(34)
    x = rng.standard_normal((3 * N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C_out, C, 3, 3)).astype(dtype)
    g = conv2d_geometry("test", x, w, None, 1, p, 1, 1)
    gy = rng.standard_normal((g.Ho, 3 * N, C_out, g.Wo)).astype(dtype).transpose(1, 2, 0, 3)
    _small_layers_too(monkeypatch)
    monkeypatch.setattr(winograd, "WEIGHT_GRAD_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    calls = _spy(monkeypatch, "_grad_tiles")
    got = KC.conv2d_backward(gy, x, w, 1, p, 1, 1, (False, True, False))[1]
    assert sum(calls) == 3 * N and len(calls) == (3 * N if chunk_bytes == 1 else 3)
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, 1, p, 1, 1, (False, True, False), None)[1]
    assert got.dtype == dtype and got.shape == w.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, **_tol(dtype))


def test_winograd_weight_grad_float32_error_is_a_few_roundings(monkeypatch):
    """The ResNet-like layer's weight gradient (sums over 2 x 256 pixels) in float32 against float64: the
    largest error within 2e-6 of the largest entry (measured 4-6e-7)."""
    monkeypatch.setattr(winograd, "WEIGHT_GRAD_MIN_PIXELS", 1)
    rng = np.random.default_rng(35)
    x, w = rng.standard_normal((2, 64, 16, 16)), rng.standard_normal((64, 64, 3, 3))
    gy = rng.standard_normal((2, 64, 16, 16))
    assert winograd.applies(conv2d_geometry("test", x, w, None, 1, 1, 1, 1), x, w, None, "weight_grad")
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, 1, 1, 1, 1, (False, True, False), None)[1]
    f32 = [a.astype(np.float32) for a in (gy, x, w)]
    got = KC.conv2d_backward(*f32, 1, 1, 1, 1, (False, True, False))[1]
    assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_padded_backward_takes_winograd(monkeypatch, dtype):
    """A "same"-padded 3x3 layer with many channels gets its input gradient from the Winograd forward on
    grad_y (flipped, transposed weights) and its weight gradient from Winograd's: col2im's numbers."""
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 40, 12, 13)).astype(dtype)
    w = rng.standard_normal((36, 40, 3, 3)).astype(dtype)
    gy = rng.standard_normal((2, 36, 12, 13)).astype(dtype)
    monkeypatch.setattr(winograd, "WEIGHT_GRAD_MIN_PIXELS", 1)
    inputs, grads = _spy(monkeypatch, "_input_tiles"), _spy(monkeypatch, "_grad_tiles")
    got = KC.conv2d_backward(gy, x, w, 1, 1, 1, 1, (True, True, True))
    assert sum(inputs) == 4 and sum(grads) == 2  # grad_x's forward and grad_w each transform 2 samples
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, 1, 1, 1, 1, (True, True, True), None)
    for array, expected in zip(got, want):
        assert array.dtype == dtype
        np.testing.assert_allclose(array, expected, **_tol(dtype))


def test_winograd_only_where_it_applies():
    def applies(x, w, stride=1, padding=1, dilation=1, groups=1, use="forward"):
        g = conv2d_geometry("test", x, w, None, stride, padding, dilation, groups)
        return winograd.applies(g, x, w, None, use)

    x, w = np.zeros((2, 64, 32, 32), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    assert applies(x, w) and applies(x, w, padding=0)
    assert not applies(x, np.zeros((64, 64, 5, 5), np.float32))
    assert not applies(x, w, stride=2)
    assert not applies(x, w, dilation=2)
    assert not applies(x, np.zeros((64, 32, 3, 3), np.float32), groups=2)
    assert not applies(x[:, :winograd.MIN_CHANNELS - 1], w[:, :winograd.MIN_CHANNELS - 1])
    assert not applies(x, w[:winograd.MIN_CHANNELS - 1])
    assert not applies(x[..., :8, :8], w)  # 64 output pixels < MIN_PLANE
    assert not applies(x.astype(np.float16), w.astype(np.float16))
    g = conv2d_geometry("test", x, w, None, 1, 1, 1, 1)
    assert cpu_conv._fast_path(g, x, w) is winograd


def test_weight_gradient_routing_on_either_machine(monkeypatch):
    """The weight gradient of a ResNet-like layer goes where it measured fastest: with AVX-512 the
    wide-plane loops on long runs and the GEMM elsewhere (never Winograd's); with AVX2 Winograd's from
    WEIGHT_GRAD_MIN_PIXELS output pixels, the GEMM below, the wide-plane loops only up to DIRECT_MAX_OUT
    channels. The constants the module set at import are this machine's."""
    assert (winograd.WEIGHT_GRAD_MIN_PIXELS, direct.WEIGHT_GRAD_MAX_OUT) == (
        (None, 128) if LANES == 16 else (1 << 14, direct.DIRECT_MAX_OUT))

    def path(n, c, plane, c_out):
        x, w = np.zeros((n, c, plane, plane), np.float32), np.zeros((c_out, c, 3, 3), np.float32)
        found = cpu_conv._fast_path(conv2d_geometry("test", x, w, None, 1, 1, 1, 1), x, w, use="weight_grad")
        return found and found.__name__.rsplit(".", 1)[1]

    monkeypatch.setattr(winograd, "WEIGHT_GRAD_MIN_PIXELS", None)  # AVX-512
    monkeypatch.setattr(direct, "WEIGHT_GRAD_MAX_OUT", 128)
    assert path(16, 64, 32, 64) == "_conv_direct"
    assert path(16, 64, 16, 64) is None and path(16, 64, 32, 256) is None
    monkeypatch.setattr(winograd, "WEIGHT_GRAD_MIN_PIXELS", 1 << 14)  # AVX2
    monkeypatch.setattr(direct, "WEIGHT_GRAD_MAX_OUT", direct.DIRECT_MAX_OUT)
    assert path(16, 64, 32, 64) == "_conv_winograd" and path(16, 64, 32, 256) == "_conv_winograd"
    assert path(15, 64, 32, 64) is None  # 15,360 output pixels
    assert path(64, 64, 16, 64) == "_conv_winograd" and path(32, 64, 16, 64) is None
    assert path(16, 64, 32, 32) == "_conv_direct"
