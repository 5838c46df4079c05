"""kernels.cpu's direct conv2d forward (_direct_conv: few output channels, stride 1, long enough runs, no
kept columns)
against im2col + GEMM, and where it applies."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _batch_threads as batch_threads
from kernels.cpu import conv as cpu_conv
from tests.kernels.test_conv import CASES, SEVEN_OUT, _conv_args, _tol

SIXTEEN_OUT = (3, 5, 9, 7, 16, (3, 2), (1, 1), (0, 1), (1, 1), 1, True)  # four blocks of four channels
TWENTY_NINE_OUT = (2, 4, 9, 7, 29, (3, 2), (1, 1), (1, 1), (1, 1), 1, True)  # the last block one channel


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[6], CASES[7], SEVEN_OUT, SIXTEEN_OUT,
                                  TWENTY_NINE_OUT],
                         ids=["padded", "batch1-wide-pad", "1x1", "kernel-is-input", "seven-out", "sixteen",
                              "twenty-nine"])
def test_direct_forward_equals_im2col(monkeypatch, case, dtype):
    """Stride-1 convs with up to DIRECT_MAX_OUT output channels run _direct_conv (the batch split over
    threads): the same numbers as im2col + GEMM, with and without bias."""
    rng = np.random.default_rng(17)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng)
    x = np.concatenate([x, x[::-1], x])
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    monkeypatch.setattr(cpu_conv, "DIRECT_MIN_RUN", 1)  # small planes, to test the loop itself
    calls = []
    direct = cpu_conv._direct_conv
    monkeypatch.setattr(cpu_conv, "_direct_conv", lambda *a: calls.append(a[0].shape[0]) or direct(*a))
    for bias in (b, None):
        calls.clear()
        got = KC.conv2d_forward(x, w, bias, s, p, d, g)
        assert calls == [x.shape[0] // 3] * 3  # each of the three parts took the loop
        want = conv_impl.conv2d_forward(cpu_conv._CPU, x, w, bias, s, p, d, g, False)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **_tol(dtype))


def test_direct_forward_only_where_it_applies():
    applies = cpu_conv._direct_applies

    def geometry(x, w, stride=1, padding=0, dilation=1, groups=1):
        return conv2d_geometry("test", x, w, None, stride, padding, dilation, groups)

    x, w = np.zeros((2, 3, 8, 24), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    assert applies(geometry(x, w), x, w, None, False)  # runs of 5 * 24 + 22 = 142 elements ...
    assert not applies(geometry(x[..., :20], w), x[..., :20], w, None, False)  # ... not 5 * 20 + 18
    w32 = np.zeros((32, 3, 3, 3), np.float32)
    assert applies(geometry(x, w32), x, w32, None, False)
    assert not applies(geometry(x, w, stride=2), x, w, None, False)
    assert not applies(geometry(x, w, dilation=2), x, w, None, False)
    w_grouped = np.zeros((3, 1, 3, 3), np.float32)
    assert not applies(geometry(x, w_grouped, groups=3), x, w_grouped, None, False)
    w_wide = np.zeros((cpu_conv.DIRECT_MAX_OUT + 1, 3, 3, 3), np.float32)
    assert not applies(geometry(x, w_wide), x, w_wide, None, False)
    assert not applies(geometry(x, w), x.astype(np.float16), w.astype(np.float16), None, False)
    # columns that backward keeps come from im2col; too large to keep, the direct loop runs
    assert not applies(geometry(x, w), x, w, None, True)
    big = np.zeros((64, 3, 32, 32), np.float32)
    w5 = np.zeros((6, 3, 5, 5), np.float32)
    assert applies(geometry(big, w5), big, w5, None, True)
    y, cols = KC.conv2d_forward(big, w5, None, 1, 0, 1, 1, keep_columns=True)
    assert cols is None and y.shape == (64, 6, 28, 28)
