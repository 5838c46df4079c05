"""kernels.cpu's register-blocked conv2d forward (kernels/cpu/_conv_vector.py, on kernels/cpu/_simd.py's
vectors): its numbers against a float64 im2col + GEMM, the reads it makes, and where it applies."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _batch_threads as batch_threads
from kernels.cpu import _conv_batch_inner as batch_inner
from kernels.cpu import _conv_direct as direct
from kernels.cpu import _conv_vector as vector
from kernels.cpu import conv as cpu_conv
from kernels.cpu._simd import LANES
from tests.kernels.test_conv import _conv_args

pytestmark = pytest.mark.usefixtures("with_vector_loops")  # with AVX2 also for many input channels

# (N, C, H, W, C_out, kernel, stride, padding, dilation, groups, bias), widths in LANES so that every
# case means the same on AVX2 (8 lanes) and AVX-512 (16)
CASES = {
    "one-run-rows": (2, 3, 4, LANES + 2, 5, (3, 3), (1, 1), (0, 0), (1, 1), 1, True),  # Wo = LANES, 2 rows
    "odd-items": (3, 2, 5, LANES, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),  # 5 rows of one run
    "overlap": (2, 4, 6, LANES + 5, 9, (3, 2), (1, 1), (1, 0), (1, 1), 1, False),  # 2 runs, overlapping
    "three-runs": (2, 2, 3, 3 * LANES - 3, 17, (1, 3), (1, 1), (0, 1), (1, 1), 1, True),
    "1x1": (2, 5, 3, 2 * LANES, 1, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
    "5x5-pad-2": (2, 3, 7, LANES + 1, 16, (5, 5), (1, 1), (2, 2), (1, 1), 1, True),
    "seven-out": (3, 3, 5, 2 * LANES + 4, 7, (2, 5), (1, 1), (0, 0), (1, 1), 1, True),
    # strides: the input split into phases, each tap reading one phase plane
    "stride-2": (2, 3, 9, 2 * LANES + 3, 9, (3, 3), (2, 2), (1, 1), (1, 1), 1, True),
    "stride-2-1": (2, 2, 7, LANES + 3, 8, (2, 4), (2, 1), (0, 1), (1, 1), 1, True),
    "stride-3-7x7": (2, 3, 11, 3 * LANES + 8, 10, (7, 7), (3, 3), (3, 3), (1, 1), 1, False),
    "stride-2-1x1": (2, 5, 4, 2 * LANES + 1, 6, (1, 1), (2, 2), (0, 0), (1, 1), 1, True),
}


def _reference(x, w, b, s, p, d, g):
    """The same conv2d in float64 through im2col + GEMM."""
    x64, w64, b64 = (None if a is None else a.astype(np.float64) for a in (x, w, b))
    return conv_impl.conv2d_forward(cpu_conv._CPU, x64, w64, b64, s, p, d, g, False)


def _spy(monkeypatch):
    """The batch size of each call of the vector loop."""
    calls = []
    loop = vector._forward_loop
    monkeypatch.setattr(vector, "_forward_loop", lambda *a: calls.append(a[6]) or loop(*a))  # N
    return calls


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_vector_forward_equals_float64_gemm(monkeypatch, case):
    """float32 results within float32 rounding of the float64 product, with and without bias, the batch
    split in three parts over three threads."""
    rng = np.random.default_rng(31)
    x, w, b, s, p, d, g = _conv_args(case, np.float32, rng)
    x = np.concatenate([x, x[::-1], x])
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    calls = _spy(monkeypatch)
    for bias in (b, None):
        calls.clear()
        got = KC.conv2d_forward(x, w, bias, s, p, d, g)
        assert calls == [x.shape[0] // 3] * 3
        want = _reference(x, w, bias, s, p, d, g)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())


@pytest.mark.parametrize("padding", [(0, 0), (1, 2)])
@pytest.mark.parametrize("stride", [(1, 1), (2, 2)])
def test_vector_forward_reads_only_the_samples(padding, stride):
    """A sample followed in memory by NaN: no output takes it in (the last run of a row starts at
    Wo - LANES, the last tap's reads end at the plane's last element, or the last phase plane's)."""
    C, H, W = 3, 6, 2 * LANES + 4
    buffer = np.full(C * H * W + 4 * LANES, np.nan, np.float32)
    x = buffer[:C * H * W].reshape(1, C, H, W)
    x[...] = np.random.default_rng(32).standard_normal(x.shape)
    w = np.random.default_rng(33).standard_normal((9, C, 3, 5)).astype(np.float32)
    got = KC.conv2d_forward(x, w, None, stride, padding, 1, 1)
    assert not np.isnan(got).any()
    want = _reference(x, w, None, stride, padding, (1, 1), 1)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())


def test_input_gradient_of_a_valid_layer_through_the_vector_forward(monkeypatch):
    """A layer without padding takes grad_x as the vector forward of grad_y padded by k - 1 (flipped,
    transposed weights): col2im's numbers; the weight gradient keeps its own loop."""
    rng = np.random.default_rng(34)
    x, w, b, s, p, d, g = _conv_args((2, 3, 7, LANES + 4, 5, (3, 5), (1, 1), (0, 0), (1, 1), 1, True),
                                     np.float32, rng)
    calls = _spy(monkeypatch)
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape).astype(np.float32)
    calls.clear()
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, (True, True, True))
    assert calls == [2]  # grad_x only
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy.astype(np.float64), x.astype(np.float64),
                                     w.astype(np.float64), s, p, d, g, (True, True, True), None)
    for array, expected in zip(got, want):
        assert array.dtype == np.float32
        np.testing.assert_allclose(array, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_input_gradient_of_a_small_valid_layer_through_the_batch_inner_vector_loop(monkeypatch):
    """LeNet's second layer's kind (rows below MIN_ROW, a batch of LANES or more): grad_x as the batch-inner
    vector forward of grad_y padded by k - 1, skipping the taps that read only padding: col2im's numbers."""
    rng = np.random.default_rng(36)
    x, w, b, s, p, d, g = _conv_args((2 * LANES + 1, 6, 10, LANES - 2, 16, (5, 3), (1, 1), (0, 0), (1, 1), 1,
                                      True), np.float32, rng)
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape).astype(np.float32)
    calls = []
    loop = batch_inner._vector_loop
    monkeypatch.setattr(batch_inner, "_vector_loop", lambda *a: calls.append(a[4:6]) or loop(*a))
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, (True, False, False))[0]
    assert calls == [(4, 2)]  # grad_y's padding: k - 1
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy.astype(np.float64), x.astype(np.float64),
                                     w.astype(np.float64), s, p, d, g, (True, False, False), None)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_strided_layer_backward_keeps_its_own_input_gradient():
    """A strided layer's input gradient is not a forward of grad_y (its transposed geometry keeps the
    stride, which the vector loop would run): col2im's numbers."""
    rng = np.random.default_rng(36)
    case = (2, 3, 9, 2 * LANES + 2, 4, (3, 3), (2, 2), (1, 1), (1, 1), 1, True)  # grad_x rows: 2 * LANES + 2
    x, w, b, s, p, d, g = _conv_args(case, np.float32, rng)
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape).astype(np.float32)
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, (True, False, False))[0]
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy.astype(np.float64), x.astype(np.float64),
                                     w.astype(np.float64), s, p, d, g, (True, False, False), None)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_vector_forward_only_where_it_applies():
    def path(x, w, stride=1, padding=0, dilation=1, groups=1, use="forward"):
        g = conv2d_geometry("test", x, w, None, stride, padding, dilation, groups)
        return cpu_conv._fast_path(g, x, w, use=use)

    x, w = np.zeros((2, 64, 10, LANES + 2), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    assert path(x, w, padding=1) is vector  # before Winograd, the wide-plane loops and the GEMM
    assert path(x, w) is vector and path(x[..., :LANES + 1], w) is not vector  # Wo = LANES, LANES - 1
    assert path(x, w, padding=1, use="weight_grad") is not vector
    assert path(x.astype(np.float64), w.astype(np.float64), padding=1) is not vector
    assert path(np.zeros((2, 3, 5, 2 * LANES), np.float32), w[:, :3], stride=2, padding=1) is vector
    assert path(x, w, stride=2, padding=1) is None  # Wo = LANES / 2 + 1
    assert path(x, w, dilation=2, padding=2) is None
    assert path(x, np.zeros((64, 32, 3, 3), np.float32), groups=2, padding=1) is None
    # the input gradient: through it where the padding is below the kernel size (a full correlation)
    g = conv2d_geometry("test", x, w, None, 1, 0, 1, 1)
    assert direct.transposed(g).padding == (2, 2) and vector.applies(direct.transposed(g), x, w)


def test_routing_limits(monkeypatch):
    """The defaults (MAX_INPUT_CHANNELS 16 with AVX2, MIN_ROW 16): layers of more input channels or shorter
    output rows take the other loops."""
    monkeypatch.setattr(vector, "MAX_INPUT_CHANNELS", 16)
    monkeypatch.setattr(vector, "MIN_ROW", 16)

    def applies(C, Wo):
        x, w = np.zeros((2, C, 4, Wo + 2), np.float32), np.zeros((8, C, 3, 3), np.float32)
        return vector.applies(conv2d_geometry("test", x, w, None, 1, 0, 1, 1), x, w)

    assert applies(16, 16) and not applies(17, 16) and not applies(16, 15)


BATCH_INNER_CASES = {  # (N, C, H, W, C_out, kernel, padding): small planes, the batch innermost
    "lenet-c2-like": (4 * LANES + 3, 3, 9, 9, 10, (5, 5), (0, 0)),  # odd rows, a part block, overlapping runs
    "padded": (2 * LANES, 2, 5, 6, 8, (3, 3), (1, 1)),
    "one-column": (64, 4, 6, 3, 17, (2, 3), (0, 0)),  # Wo = 1: each pixel paired with itself
    # padding k - 1 (an input gradient's): border pixels read few rows and columns of x, the rest skipped
    "full-padding": (2 * LANES, 3, 4, 3, 6, (3, 4), (2, 3)),
    "uneven-padding": (4 * LANES + 1, 2, 6, 4, 9, (5, 3), (3, 1)),
    # one part of the batch: with two threads its channel blocks go in two groups (1 and 2 blocks)
    "one-part": (LANES + 5, 3, 7, 7, 2 * vector.CHANNELS + 3, (3, 3), (1, 1)),
}


@pytest.mark.parametrize("case", BATCH_INNER_CASES.values(), ids=BATCH_INNER_CASES.keys())
def test_vector_batch_inner_forward_equals_float64_gemm(monkeypatch, case):
    """The batch-inner layout's vector loop (vectors of LANES samples of one pixel): float64's numbers."""
    N, C, H, W, C_out, k, p = case
    rng = np.random.default_rng(35)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C_out, C) + k).astype(np.float32)
    b = rng.standard_normal(C_out).astype(np.float32)
    g = conv2d_geometry("test", x, w, b, 1, p, 1, 1)
    assert cpu_conv._fast_path(g, x, w, b) is batch_inner
    calls = []
    loop = batch_inner._vector_loop
    monkeypatch.setattr(batch_inner, "_vector_loop", lambda *a: calls.append(1) or loop(*a))
    got = KC.conv2d_forward(x, w, b, 1, p, 1, 1)
    assert calls == [1]
    want = _reference(x, w, b, (1, 1), p, (1, 1), 1)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())
    calls.clear()
    KC.conv2d_forward(x[:LANES - 1], w, b, 1, p, 1, 1)  # a batch below LANES keeps the other loop
    assert calls == []
