"""kernels.cpu's direct conv2d loops (kernels/cpu/_conv_direct.py: few output channels, stride 1, long enough
runs): forward and weight gradient against im2col + GEMM, and where they apply."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _batch_threads as batch_threads
from kernels.cpu import _conv_batch_inner as batch_inner
from kernels.cpu import _conv_direct as direct
from kernels.cpu import conv as cpu_conv
from kernels.cpu._simd import LANES
from tests.kernels.test_conv import CASES, SEVEN_OUT, _conv_args, _tol

pytestmark = pytest.mark.usefixtures("without_vector_loops")  # float32 forwards keep the wide-plane loops

SIXTEEN_OUT = (3, 5, 9, 7, 16, (3, 2), (1, 1), (0, 1), (1, 1), 1, True)  # four blocks of four channels
# seven blocks: forward takes three pairs, then the last block alone, which holds one channel
TWENTY_FIVE_OUT = (2, 4, 9, 7, 25, (3, 2), (1, 1), (1, 1), (1, 1), 1, True)
DIRECT_CASES = [CASES[0], CASES[1], CASES[6], CASES[7], SEVEN_OUT, SIXTEEN_OUT, TWENTY_FIVE_OUT]
DIRECT_IDS = ["padded", "batch1-wide-pad", "1x1", "kernel-is-input", "seven-out", "sixteen", "twenty-five"]


def _split_in_three(monkeypatch):
    """Every call splits its batch over three threads, and small planes take the direct loops (not the
    batch-inner forward)."""
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_inner, "MIN_ROW_RUN", 1 << 62)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    monkeypatch.setattr(direct, "DIRECT_MIN_RUN", 1)


def _spy(monkeypatch, name):
    """The batch size of each call of the loop `name` (its y, or its grad_y)."""
    calls = []
    loop = getattr(direct, name)
    batch_of = {"_forward_loop": 7, "_weight_grad_loop": 5}[name]
    monkeypatch.setattr(direct, name, lambda *a: calls.append(a[batch_of].shape[0]) or loop(*a))
    return calls


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=DIRECT_IDS)
def test_direct_forward_equals_im2col(monkeypatch, case, dtype):
    """The direct forward loop (the batch split over threads): the same numbers as im2col + GEMM, with
    and without bias."""
    rng = np.random.default_rng(17)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    x = np.concatenate([x, x[::-1], x])
    _split_in_three(monkeypatch)
    calls = _spy(monkeypatch, "_forward_loop")
    for bias in (b, None):
        calls.clear()
        got = KC.conv2d_forward(x, w, bias, s, p, d, g)
        assert calls == [x.shape[0] // 3] * 3  # each of the three parts took the loop
        want = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, bias, s, p, d, g, False)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=DIRECT_IDS)
def test_direct_weight_grad_equals_im2col(monkeypatch, case, dtype):
    """The direct weight-gradient loop (three parts, summed in order) gives im2col + GEMM's gradient,
    whatever else backward is asked for; grad_input and grad_bias still come from the GEMM path."""
    rng = np.random.default_rng(18)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    x = np.concatenate([x, x[::-1], x])
    gy = rng.standard_normal(KC.conv2d_forward(x, w, None, s, p, d, g).shape).astype(dtype)
    gy = np.asfortranarray(gy)  # not C-contiguous: the loop must get a contiguous copy
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, s, p, d, g, (True, True, True), None)
    _split_in_three(monkeypatch)
    calls = _spy(monkeypatch, "_weight_grad_loop")
    for needs in [(False, True, False), (True, True, True), (False, True, True), (True, False, True)]:
        calls.clear()
        got = KC.conv2d_backward(gy, x, w, s, p, d, g, needs)
        assert calls == ([x.shape[0] // 3] * 3 if needs[1] else [])
        for flag, array, expected in zip(needs, got, want):
            if not flag:
                assert array is None
                continue
            assert array.dtype == dtype and array.shape == expected.shape
            np.testing.assert_allclose(array, expected, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_runs_rounded_up_read_only_the_zeros_after_the_input(monkeypatch, dtype):
    """The loops round each run up to whole 16-element vectors and read up to RUN_SLACK elements past the
    last padded plane: those are zeros, whatever the workspace held (NaN here), so the weight gradient,
    where a stray read would meet a zero grad-output plane and give NaN, stays exact."""
    from kernels.cpu import _scratch
    rng = np.random.default_rng(23)
    x, w, b, s, p, d, g = _conv_args((3, 2, 9, 7, 5, (3, 3), (1, 1), (1, 1), (1, 1), 1, True), dtype, rng)
    g_ = conv2d_geometry("conv2d", x, w, b, s, p, d, g)
    assert direct._padded_part(x, 0, 3, g_)[4] == 80  # runs of (9 - 1) * 9 + 7 = 79, one element past
    monkeypatch.setattr(direct, "DIRECT_MIN_RUN", 1)
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 1 << 62)  # one part, on this thread's workspace
    _scratch.workspace("padded_flat", (1 << 12,), np.uint8)[:] = 0xFF  # NaN in float32 and float64 alike
    gy = rng.standard_normal(KC.conv2d_forward(x, w, None, s, p, d, g).shape).astype(dtype)
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, (False, True, False))[1]
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, s, p, d, g, (False, True, False), None)[1]
    np.testing.assert_allclose(got, want, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_loops_for_many_output_channels_on_long_runs(monkeypatch, dtype):
    """40 output channels, runs of 19 * 32 + 30 = 638: forward (18 taps), weight gradient and the input
    gradient of this "same"-padded layer (transposed: 40 -> 2 channels) all take the loops and give
    im2col + GEMM's numbers (the weight gradient's limit set to AVX-512's, so AVX2 machines test it too)."""
    monkeypatch.setattr(direct, "WEIGHT_GRAD_MAX_OUT", 128)
    rng = np.random.default_rng(20)
    x, w, b, s, p, d, g = _conv_args((2, 2, 20, 30, 40, (3, 3), (1, 1), (1, 1), (1, 1), 1, True), dtype, rng)
    forward_calls = _spy(monkeypatch, "_forward_loop")
    grad_calls = _spy(monkeypatch, "_weight_grad_loop")
    y = KC.conv2d_forward(x, w, b, s, p, d, g)
    want_y = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, b, s, p, d, g, False)
    np.testing.assert_allclose(y, want_y, **_tol(dtype))
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, (True, True, True))
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, s, p, d, g, (True, True, True), None)
    for array, expected in zip(got, want):
        np.testing.assert_allclose(array, expected, **_tol(dtype))
    assert sum(forward_calls) == 2 * x.shape[0] and sum(grad_calls) == x.shape[0]  # forward and grad_x


SAME_PADDED = [(3, 5, 9, 7, 6, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
               (2, 4, 8, 6, 29, (5, 3), (1, 1), (2, 1), (1, 1), 1, True),
               (2, 7, 6, 9, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1, False)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SAME_PADDED, ids=["3x3", "5x3-29-out", "1x1"])
def test_direct_grad_input_equals_im2col(monkeypatch, case, dtype):
    """"Same"-padded layers take their input gradient from the forward loop run on grad_y (flipped,
    transposed weights): col2im's numbers."""
    rng = np.random.default_rng(19)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    gy = rng.standard_normal(KC.conv2d_forward(x, w, None, s, p, d, g).shape).astype(dtype)
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, s, p, d, g, (True, True, True), None)
    _split_in_three(monkeypatch)
    calls = _spy(monkeypatch, "_forward_loop")
    for needs in [(True, False, False), (True, True, True)]:
        calls.clear()
        got = KC.conv2d_backward(gy, x, w, s, p, d, g, needs)
        assert sum(calls) == x.shape[0] and len(calls) == min(3, x.shape[0])  # the grad-input loop, split
        for flag, array, expected in zip(needs, got, want):
            assert (array is None) == (not flag)
            if flag:
                assert array.dtype == dtype and array.shape == expected.shape
                np.testing.assert_allclose(array, expected, **_tol(dtype))


def test_direct_loops_only_where_they_apply(monkeypatch):
    def geometry(x, w, stride=1, padding=0, dilation=1, groups=1):
        return conv2d_geometry("test", x, w, None, stride, padding, dilation, groups)

    def applies(x, w, use="forward", **kwargs):
        return direct.applies(geometry(x, w, **kwargs), x, w, None, use)

    x, w = np.zeros((2, 3, 8, 24), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    assert applies(x, w)  # runs of 5 * 24 + 22 = 142 elements ...
    assert not applies(x[..., :20], w)  # ... not 5 * 20 + 18
    assert applies(x, np.zeros((32, 3, 3, 3), np.float32))
    assert not applies(x, np.zeros((direct.DIRECT_MAX_OUT + 1, 3, 3, 3), np.float32))
    assert not applies(x, w, stride=2)
    assert not applies(x, w, dilation=2)
    assert not applies(x, np.zeros((3, 1, 3, 3), np.float32), groups=3)
    assert not applies(x.astype(np.float16), w.astype(np.float16))
    # more output channels on long runs (3 x 32 x 32, padding 1: runs of 31 * 34 + 32 = 1,086): the forward
    # for few taps, the weight gradient up to WEIGHT_GRAD_MAX_OUT (AVX-512's 128 here; with AVX2 none above
    # DIRECT_MAX_OUT); not on 16 x 16 planes (runs of 286)
    assert direct.WEIGHT_GRAD_MAX_OUT == (128 if LANES == 16 else direct.DIRECT_MAX_OUT)
    x_long = np.zeros((2, 3, 32, 32), np.float32)
    w_64 = np.zeros((64, 3, 3, 3), np.float32)
    monkeypatch.setattr(direct, "WEIGHT_GRAD_MAX_OUT", direct.DIRECT_MAX_OUT)
    assert applies(x_long, w_64, padding=1) and not applies(x_long, w_64, padding=1, use="weight_grad")
    monkeypatch.setattr(direct, "WEIGHT_GRAD_MAX_OUT", 128)
    assert applies(x_long, w_64, padding=1) and applies(x_long, w_64, padding=1, use="weight_grad")
    assert not applies(x_long[..., :16, :16], w_64, padding=1)
    assert not applies(x_long[..., :16, :16], w_64, padding=1, use="weight_grad")
    x_many = np.zeros((2, 32, 32, 32), np.float32)  # 288 taps > FEW_TAPS
    w_many = np.zeros((64, 32, 3, 3), np.float32)
    assert not applies(x_many, w_many, padding=1) and applies(x_many, w_many, padding=1, use="weight_grad")
    w_129 = np.zeros((direct.WEIGHT_GRAD_MAX_OUT + 1, 3, 3, 3), np.float32)
    assert applies(x_long, w_129, padding=1) and not applies(x_long, w_129, padding=1, use="weight_grad")
    # the input gradient: "same" padding only, and few input channels (the transposed conv's outputs)
    x_same, w_same = np.zeros((2, 3, 8, 24), np.float32), np.zeros((4, 3, 3, 3), np.float32)

    def grad_input_path(x, w, **kwargs):
        g = geometry(x, w, **kwargs)
        gy = np.zeros((g.N, g.C_out, g.Ho, g.Wo), np.float32)
        return direct.same_padded(g) and cpu_conv._fast_path(direct.transposed(g), gy, w)

    assert grad_input_path(x_same, w_same, padding=1) is direct
    assert not direct.same_padded(geometry(x_same, w_same))  # valid conv
    x_wide = np.zeros((2, direct.DIRECT_MAX_OUT + 1, 8, 24), np.float32)
    w_wide = np.zeros((4, direct.DIRECT_MAX_OUT + 1, 3, 3), np.float32)
    assert grad_input_path(x_wide, w_wide, padding=1) is None
    # forward keeps no columns for these layers (backward's weight gradient needs none), even small ones
    small = np.zeros((2, 3, 8, 24), np.float32)
    y, cols = KC.conv2d_forward(small, w, None, 1, 0, 1, 1, keep_columns=True)
    assert cols is None and y.shape == (2, 4, 6, 22)
    y, cols = KC.conv2d_forward(small[..., :20], w, None, 1, 0, 1, 1, keep_columns=True)
    assert cols is not None  # im2col's layer: its columns go to backward


def test_backward_with_kept_columns_takes_the_gemm_path(monkeypatch):
    x = np.random.default_rng(4).standard_normal((2, 3, 8, 24)).astype(np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y, cols = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, None, 1, 0, 1, 1, True)
    calls = _spy(monkeypatch, "_weight_grad_loop")
    gy, needs = np.ones_like(y), (False, True, False)
    gw = KC.conv2d_backward(gy, x, w, 1, 0, 1, 1, needs, cols)[1]
    assert calls == []
    np.testing.assert_allclose(gw, KC.conv2d_backward(gy, x, w, 1, 0, 1, 1, needs)[1], rtol=1e-5)
