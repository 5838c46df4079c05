"""kernels.cpu's batch-inner conv2d loops (kernels/cpu/_conv_batch_inner.py: few output channels, small
planes, a batch): forward (in chunks of every size), weight gradient and same-padded input gradient give
im2col + GEMM's numbers; where they apply."""
import numpy as np
import pytest
from numba import njit

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _conv_batch_inner as batch_inner
from kernels.cpu import _conv_direct as direct
from kernels.cpu import conv as cpu_conv
from kernels.cpu._simd import LANES
from tests.kernels.test_conv import _conv_args, _tol
from tests.kernels.test_conv_direct import DIRECT_CASES, DIRECT_IDS

pytestmark = pytest.mark.usefixtures("without_vector_loops")  # float32 forwards keep the batch-inner loops


def _spy_rows(monkeypatch):
    calls = []
    rows = batch_inner._rows
    monkeypatch.setattr(batch_inner, "_rows", lambda *a: calls.append(a[-1]) or rows(*a))
    return calls


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20], ids=["one-column", "two", "three", "whole-rows"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=DIRECT_IDS)
def test_batch_inner_forward_equals_im2col(monkeypatch, case, dtype, chunk):
    """Any chunk of whole batch columns (one, two or three output columns per chunk, so rows end in a
    part chunk; or whole rows) gives im2col + GEMM's numbers, with and without bias."""
    rng = np.random.default_rng(21)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    x = np.concatenate([x, x[::-1], x])  # batch 3N: the transposed layout mixes samples in every run
    monkeypatch.setattr(batch_inner, "MIN_ROW_RUN", 1)
    monkeypatch.setattr(batch_inner, "MAX_WIDE_RUN", 1 << 62)
    monkeypatch.setattr(batch_inner, "CHUNK", chunk * x.shape[0])
    calls = _spy_rows(monkeypatch)
    for bias in (b, None):
        calls.clear()
        got = KC.conv2d_forward(x, w, bias, s, p, d, g)
        assert calls == [chunk * x.shape[0]]
        want = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, bias, s, p, d, g, False)
        assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=DIRECT_IDS)
def test_batch_inner_weight_grad_equals_im2col(monkeypatch, case, dtype):
    """The batch-inner weight gradient (every block of channels and group of taps summed over all rows)
    gives im2col + GEMM's gradient, whatever else backward is asked for."""
    rng = np.random.default_rng(25)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    x = np.concatenate([x, x[::-1], x])
    gy = rng.standard_normal(KC.conv2d_forward(x, w, None, s, p, d, g).shape).astype(dtype)
    gy = np.asfortranarray(gy)  # not C-contiguous
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, s, p, d, g, (True, True, True), None)
    monkeypatch.setattr(batch_inner, "MIN_ROW_RUN", 1)
    monkeypatch.setattr(batch_inner, "MAX_WIDE_RUN", 1 << 62)
    calls = []
    loop = batch_inner._weight_grad_rows
    monkeypatch.setattr(batch_inner, "_weight_grad_rows", lambda *a: calls.append(1) or loop(*a))
    for needs in [(False, True, False), (True, True, True), (True, False, True)]:
        calls.clear()
        got = KC.conv2d_backward(gy, x, w, s, p, d, g, needs)
        assert len(calls) == needs[1]
        for flag, array, expected in zip(needs, got, want):
            assert (array is None) == (not flag)
            if flag:
                assert array.dtype == dtype and array.shape == expected.shape
                np.testing.assert_allclose(array, expected, **_tol(dtype))


def test_batch_inner_forward_reads_strided_input():
    """A non-contiguous input (a channel slice) is read as its values."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((16, 9, 8, 8)).astype(np.float32)[:, ::2]
    w = rng.standard_normal((8, 5, 3, 3)).astype(np.float32)
    g = conv2d_geometry("test", x, w, None, 1, 1, 1, 1)
    assert batch_inner.applies(g, x, w)
    want = conv_impl.conv2d_forward(cpu_conv._CPU, np.ascontiguousarray(x), w, None, 1, 1, 1, 1, False)
    np.testing.assert_allclose(KC.conv2d_forward(x, w, None, 1, 1, 1, 1), want, rtol=1e-4, atol=1e-4)


def test_batch_inner_only_where_it_applies(monkeypatch):
    def applies(x, w, stride=1, padding=0, dilation=1, groups=1):
        g = conv2d_geometry("test", x, w, None, stride, padding, dilation, groups)
        return batch_inner.applies(g, x, w)

    # LeNet's second layer: 10x10 outputs, wide runs of 136 (< MAX_WIDE_RUN), rows of 10 * N
    x, w = np.zeros((64, 6, 14, 14), np.float32), np.zeros((16, 6, 5, 5), np.float32)
    assert applies(x, w)
    assert applies(x[:7], w)  # rows of 70
    assert not applies(x[:6], w)  # rows of 60 < MIN_ROW_RUN: the direct loop or the GEMM
    assert not applies(np.zeros((64, 6, 32, 32), np.float32), w)  # wide runs of 892: the direct loop
    assert applies(x, np.zeros((direct.DIRECT_MAX_OUT, 6, 5, 5), np.float32))
    assert not applies(x, np.zeros((direct.DIRECT_MAX_OUT + 1, 6, 5, 5), np.float32))
    assert not applies(x, w, stride=2)
    assert not applies(x, w, dilation=2)
    assert not applies(x, np.zeros((16, 3, 5, 5), np.float32), groups=2)
    assert not applies(x.astype(np.float16), w.astype(np.float16))
    # conv2d routes such a layer here, keeps no columns, and backward still gives its gradients
    rng = np.random.default_rng(23)
    x, w = rng.standard_normal((8, 6, 14, 14)), rng.standard_normal((16, 6, 5, 5))
    calls = _spy_rows(monkeypatch)
    y, cols = KC.conv2d_forward(x, w, None, 1, 0, 1, 1, keep_columns=True)
    assert len(calls) == 1 and cols is None
    np.testing.assert_allclose(y, conv_impl.conv2d_forward(cpu_conv._CPU, x, w, None, 1, 0, 1, 1, False),
                               **_tol(np.float64))
    gy = rng.standard_normal(y.shape)
    got = KC.conv2d_backward(gy, x, w, 1, 0, 1, 1, (True, True, True), cols)
    want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, 1, 0, 1, 1, (True, True, True), None)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, **_tol(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_padded_grad_input_takes_the_batch_inner_forward(monkeypatch, dtype):
    """A "same"-padded layer on small planes gets its input gradient from this forward on grad_y (flipped,
    transposed weights; rows of 8 * 16 = 128): col2im's numbers; a valid one keeps the GEMM path."""
    rng = np.random.default_rng(24)
    x, w = rng.standard_normal((16, 5, 8, 8)).astype(dtype), rng.standard_normal((8, 5, 3, 3)).astype(dtype)
    for padding, rows in ((1, 1), (0, 0)):
        gy = rng.standard_normal(KC.conv2d_forward(x, w, None, 1, padding, 1, 1).shape).astype(dtype)
        calls = _spy_rows(monkeypatch)
        got = KC.conv2d_backward(gy, x, w, 1, padding, 1, 1, (True, False, False))
        assert len(calls) == rows and got[1] is None and got[2] is None
        needs = (True, False, False)
        want = conv_impl.conv2d_backward(cpu_conv._CPU, gy, x, w, 1, padding, 1, 1, needs, None)
        assert got[0].dtype == dtype
        np.testing.assert_allclose(got[0], want[0], **_tol(dtype))


@njit
def _transposed(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch):
    batch_inner._transpose(src, s0, src_pitch, rows, cols, dst, d0, dst_pitch)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, cols", [(LANES, LANES), (LANES + 3, 2 * LANES + 5), (LANES - 1, 3 * LANES),
                                        (2 * LANES, LANES - 2), (1, 1)])
def test_transpose_in_tiles_and_one_by_one(rows, cols, dtype):
    """_transpose (register tiles for float32 where rows and cols reach LANES, the last tiles overlapping;
    else one element at a time) writes the transpose of a strided block, and nothing else."""
    src_pitch, dst_pitch = cols + 7, rows + 2
    src = np.arange(5 + rows * src_pitch, dtype=dtype)
    dst = np.full(3 + cols * dst_pitch, -1, dtype)
    _transposed(src, 5, src_pitch, rows, cols, dst, 3, dst_pitch)
    block = src[5:].reshape(rows, src_pitch)[:, :cols]
    got = dst[3:].reshape(cols, dst_pitch)
    np.testing.assert_array_equal(got[:, :rows], block.T)
    assert (got[:, rows:] == -1).all() and (dst[:3] == -1).all()  # the gaps stay untouched
