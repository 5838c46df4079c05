"""conv2d / conv_transpose2d kernels: CPU vs PyTorch and a NumPy reference, CUDA (simulator) vs CPU,
and argument validation that fires before any kernel runs."""
import threading
import time

import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cuda as KG
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _batch_threads as batch_threads
from kernels.cpu import conv as cpu_conv
from kernels.cuda import conv as cuda_conv
from kernels.cuda._launch import xp as gxp

ALL = (True, True, True)


# ---------------------------------------------------------------- NumPy-only references
def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    """Direct definition: y[n, o, i, j] = sum_{c,kh,kw} xpad[n, c, i*s + kh*d, j*s + kw*d] w[o, c, kh, kw]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    C_out, Cg, kH, kW = w.shape
    Ho = (H + 2 * ph - dh * (kH - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kW - 1) - 1) // sw + 1
    xp_ = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=np.float64)
    xp_[:, :, ph:ph + H, pw:pw + W] = x
    y = np.zeros((N, C_out, Ho, Wo))
    cog = C_out // groups
    for o in range(C_out):
        gi = o // cog
        for c in range(Cg):
            for kh in range(kH):
                for kw in range(kW):
                    patch = xp_[:, gi * Cg + c, kh * dh:kh * dh + sh * (Ho - 1) + 1:sh,
                                kw * dw:kw * dw + sw * (Wo - 1) + 1:sw]
                    y[:, o] += w[o, c, kh, kw] * patch
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter definition: x[n, c, i, j] w[c, o, kh, kw] lands on y[n, o, i*s - p + kh*d, j*s - p + kw*d]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C_in, H, W = x.shape
    _, cog, kH, kW = w.shape
    Hy = (H - 1) * sh - 2 * ph + dh * (kH - 1) + output_padding[0] + 1
    Wy = (W - 1) * sw - 2 * pw + dw * (kW - 1) + output_padding[1] + 1
    big = np.zeros((N, cog * groups, Hy + 2 * ph + sh + dh * kH, Wy + 2 * pw + sw + dw * kW))
    cig = C_in // groups
    for c in range(C_in):
        gi = c // cig
        for o in range(cog):
            for kh in range(kH):
                for kw in range(kW):
                    big[:, gi * cog + o, kh * dh:kh * dh + sh * (H - 1) + 1:sh,
                        kw * dw:kw * dw + sw * (W - 1) + 1:sw] += w[c, o, kh, kw] * x[:, c]
    y = big[:, :, ph:ph + Hy, pw:pw + Wy]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


# (N, C_in, H, W, C_out, (kH, kW), stride, padding, dilation, groups, bias)
CASES = [
    (2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),     # odd sizes
    (1, 2, 5, 5, 3, (3, 3), (1, 1), (2, 2), (1, 1), 1, True),     # batch 1, padding > k // 2
    (2, 3, 9, 8, 2, (2, 2), (3, 3), (0, 0), (1, 1), 1, False),    # stride > kernel, no bias
    (2, 4, 9, 10, 6, (3, 2), (2, 1), (1, 0), (2, 1), 2, True),    # asymmetric everything, groups
    (2, 4, 6, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 4, True),     # depthwise
    (2, 4, 6, 6, 8, (3, 3), (2, 2), (2, 1), (2, 2), 4, False),    # depthwise multiplier, dilation
    (3, 5, 4, 7, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),     # 1x1
    (2, 3, 5, 5, 2, (5, 5), (1, 1), (0, 0), (1, 1), 1, True),     # kernel == input
    (1, 6, 8, 8, 6, (3, 3), (2, 2), (1, 1), (1, 1), 3, True),
]
CASE_IDS = [f"case{i}" for i in range(len(CASES))]


def _conv_args(case, dtype, rng, transposed=False):
    N, C, H, W, C_out, k, s, p, d, g, bias = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    wshape = (C, C_out // g) + k if transposed else (C_out, C // g) + k
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype) if bias else None
    return x, w, b, s, p, d, g


def _output_padding(s, d):
    # the largest output_padding PyTorch accepts: < stride or < dilation
    return tuple(max(si, di) - 1 for si, di in zip(s, d))


def _tol(dtype):
    return {"rtol": 1e-10, "atol": 1e-10} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-4}


def ref_im2col(x, g):
    """(C*kH*kW, N*Ho*Wo) column matrix from an as_strided view of the zero-padded input."""
    (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
    xp_ = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    sN, sC, sH, sW = xp_.strides
    view = np.lib.stride_tricks.as_strided(xp_, (g.C, g.kH, g.kW, g.N, g.Ho, g.Wo),
                                           (sC, sH * dh, sW * dw, sN, sH * sh, sW * sw), writeable=False)
    return view.reshape(g.C * g.kH * g.kW, -1)


# ---------------------------------------------------------------- CPU vs NumPy reference (no torch)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv2d_forward_matches_reference(case):
    rng = np.random.default_rng(0)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng)
    np.testing.assert_allclose(KC.conv2d_forward(x, w, b, s, p, d, g), ref_conv2d(x, w, b, s, p, d, g),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_im2col_matches_strided_view(case):
    rng = np.random.default_rng(13)
    x, w, b, s, p, d, g_ = _conv_args(case, np.float32, rng)
    g = conv2d_geometry("test", x, w, b, s, p, d, g_)
    cols = np.full((g.C * g.kH * g.kW, g.N * g.Ho * g.Wo), np.nan, np.float32)  # poisoned
    cpu_conv._CPU.im2col(x, g, cols, 0)
    np.testing.assert_array_equal(cols, ref_im2col(x, g))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv_transpose2d_forward_matches_reference(case):
    rng = np.random.default_rng(1)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng, transposed=True)
    op = _output_padding(s, d)
    np.testing.assert_allclose(KC.conv_transpose2d_forward(x, w, b, s, p, op, d, g),
                               ref_conv_transpose2d(x, w, b, s, p, op, d, g), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv2d_backward_is_the_adjoint(case):
    """y is bilinear in (x, w): <gy, conv(x, w)> = <grad_x, x> = <grad_w, w>, and grad_b = sum gy."""
    rng = np.random.default_rng(2)
    x, w, _b, s, p, d, g = _conv_args(case, np.float64, rng)
    y = ref_conv2d(x, w, None, s, p, d, g)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = KC.conv2d_backward(gy, x, w, s, p, d, g, ALL)
    inner = np.sum(gy * y)
    assert np.isclose(np.sum(gx * x), inner, rtol=1e-10)
    assert np.isclose(np.sum(gw * w), inner, rtol=1e-10)
    # a second, independent direction pins grad_x / grad_w down beyond one inner product
    x2, w2 = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    assert np.isclose(np.sum(gx * x2), np.sum(gy * ref_conv2d(x2, w, None, s, p, d, g)), rtol=1e-10)
    assert np.isclose(np.sum(gw * w2), np.sum(gy * ref_conv2d(x, w2, None, s, p, d, g)), rtol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv_transpose2d_backward_is_the_adjoint(case):
    rng = np.random.default_rng(3)
    x, w, _b, s, p, d, g = _conv_args(case, np.float64, rng, transposed=True)
    op = _output_padding(s, d)
    y = ref_conv_transpose2d(x, w, None, s, p, op, d, g)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, ALL)
    x2, w2 = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    assert np.isclose(np.sum(gx * x2), np.sum(gy * ref_conv_transpose2d(x2, w, None, s, p, op, d, g)),
                      rtol=1e-10)
    assert np.isclose(np.sum(gw * w2), np.sum(gy * ref_conv_transpose2d(x, w2, None, s, p, op, d, g)),
                      rtol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[8]], ids=["plain", "groups", "strided-groups"])
@pytest.mark.parametrize("batch_split", [False, True], ids=["one-part", "split"])
def test_conv_transpose2d_backward_each_gradient_alone(monkeypatch, case, batch_split):
    """grad_x and grad_w share one im2col per chunk; asked for one at a time, each is the same, and with a
    chunk per sample (one or two parts of the batch) the weight gradient sums every chunk."""
    case = (6,) + case[1:]  # six samples: three chunks in each of two parts
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0 if batch_split else 1 << 60)
    monkeypatch.setattr(cpu_conv._CPU, "chunk_bytes", 1)
    rng = np.random.default_rng(5)
    x, w, _b, s, p, d, g = _conv_args(case, np.float64, rng, transposed=True)
    op = _output_padding(s, d)
    gy = rng.standard_normal(ref_conv_transpose2d(x, w, None, s, p, op, d, g).shape)
    gx, gw, gb = KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, ALL)
    only_x = KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, (True, False, False))
    only_w = KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, (False, True, False))
    assert only_x[1] is None and only_x[2] is None and only_w[0] is None and only_w[2] is None
    np.testing.assert_allclose(only_x[0], gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(only_w[1], gw, rtol=1e-12, atol=1e-12)
    x2 = rng.standard_normal(x.shape)
    y = ref_conv_transpose2d(x, w, None, s, p, op, d, g)
    assert np.isclose(np.sum(gw * w), np.sum(gy * y), rtol=1e-10)  # y is linear in w
    assert np.isclose(np.sum(gx * x2), np.sum(gy * ref_conv_transpose2d(x2, w, None, s, p, op, d, g)),
                      rtol=1e-10)


# ---------------------------------------------------------------- CPU vs PyTorch
def _torch_conv(transposed, x, w, b, s, p, op, d, g, gy):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    if transposed:
        yt = F.conv_transpose2d(xt, wt, bt, s, p, op, g, d)
    else:
        yt = F.conv2d(xt, wt, bt, s, p, d, g)
    yt.backward(torch.tensor(gy))
    grads = (xt.grad.numpy(), wt.grad.numpy(), None if b is None else bt.grad.numpy())
    return yt.detach().numpy(), grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_torch(case, transposed, dtype):
    rng = np.random.default_rng(4)
    x, w, b, s, p, d, g = _conv_args(case, dtype, rng, transposed)
    op = _output_padding(s, d)
    if transposed:
        y = KC.conv_transpose2d_forward(x, w, b, s, p, op, d, g)
    else:
        y = KC.conv2d_forward(x, w, b, s, p, d, g)
    gy = rng.standard_normal(y.shape).astype(dtype)
    y_ref, grads_ref = _torch_conv(transposed, x, w, b, s, p, op, d, g, gy)
    needs = (True, True, b is not None)
    if transposed:
        grads = KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, needs)
    else:
        grads = KC.conv2d_backward(gy, x, w, s, p, d, g, needs)
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **_tol(dtype))
    for got, want in zip(grads, grads_ref):
        if want is None:
            assert got is None
        else:
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, **_tol(dtype))


def test_non_contiguous_inputs_match_torch():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2, 6, 11, 9))
    x = base[:, ::2, 1:, :].transpose(0, 1, 3, 2)           # strided and transposed view (2, 3, 9, 10)
    w = rng.standard_normal((4, 3, 3, 2)).transpose(0, 1, 3, 2)  # (4, 3, 2, 3), non-contiguous
    b = rng.standard_normal(8)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    args = ((2, 1), (1, 2), (1, 1), 1)
    y = KC.conv2d_forward(x, w, b, *args)
    gy = rng.standard_normal(y.shape + (2,))[..., 0]           # non-contiguous grad_output too
    y_ref, grads_ref = _torch_conv(False, np.ascontiguousarray(x), np.ascontiguousarray(w),
                                   np.ascontiguousarray(b), *args[:2], (0, 0), *args[2:],
                                   np.ascontiguousarray(gy))
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-10)
    for got, want in zip(KC.conv2d_backward(gy, x, w, *args, ALL), grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("serial", [True, False], ids=["serial", "threads"])
def test_bias_grad_sums_every_channel(monkeypatch, dtype, serial):
    """The CPU bias gradient (one Numba pass, plane sums added in float64) is the float64 sum rounded
    once; a non-contiguous or empty grad_y takes NumPy's sum."""
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1 << 62 if serial else 0)
    rng = np.random.default_rng(31)
    gy = (rng.standard_normal((5, 7, 6, 9)) * 10 + 3).astype(dtype)
    got = cpu_conv._CPU.bias_grad(gy)
    assert got.dtype == dtype and got.shape == (7,)
    rtol = 2e-7 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, gy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=rtol)
    strided = gy[:, :, ::2]
    np.testing.assert_array_equal(cpu_conv._CPU.bias_grad(strided), strided.sum(axis=(0, 2, 3)))
    assert np.array_equal(cpu_conv._CPU.bias_grad(gy[:0]), np.zeros(7, dtype))


def test_needs_flags_and_empty_batch():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 4, 4))
    gx, gw, gb = KC.conv2d_backward(gy, x, w, (1, 1), (0, 0), (1, 1), 1, (False, True, False))
    assert gx is None and gb is None and gw.shape == w.shape
    y = KC.conv2d_forward(x[:0], w, None, (1, 1), (0, 0), (1, 1), 1)
    assert y.shape == (0, 4, 4, 4)
    gx, gw, gb = KC.conv2d_backward(gy[:0], x[:0], w, (1, 1), (0, 0), (1, 1), 1, ALL)
    assert gx.shape == (0, 3, 6, 6) and np.all(gw == 0) and np.all(gb == 0)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[5]], ids=["plain", "groups", "depthwise"])
def test_batch_chunking_gives_the_same_result(monkeypatch, case):
    """The CPU splits the batch so each chunk's columns stay in cache; grad_w sums over chunks."""
    rng = np.random.default_rng(12)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng)
    x = np.concatenate([x, x[::-1] * 0.5, x])  # N = 6
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape)
    wt = rng.standard_normal((x.shape[1], w.shape[0] // g) + w.shape[2:])
    op = _output_padding(s, d)
    results = []
    for chunk_bytes in (None, 1, 3 * 8 * w[0].size * gy[0, 0].size):  # whole batch, 1 sample, ~3 samples
        monkeypatch.setattr(cpu_conv._CPU, "chunk_bytes", chunk_bytes)
        out = (KC.conv2d_forward(x, w, b, s, p, d, g),) + KC.conv2d_backward(gy, x, w, s, p, d, g, ALL)
        y_t = KC.conv_transpose2d_forward(x, wt, None, s, p, op, d, g)
        out += (y_t,) + KC.conv_transpose2d_backward(np.ones_like(y_t), x, wt, s, p, op, d, g, ALL)[:2]
        results.append(out)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[8]], ids=["plain", "groups", "strided-groups"])
def test_batch_split_over_threads_gives_the_same_result(monkeypatch, case):
    """Parts of the batch run on parallel threads (each its own chunks and weight-gradient sum)."""
    rng = np.random.default_rng(21)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng)
    x = np.concatenate([x, x[::-1] * 0.5, x, -x, 2 * x])  # N = 5 x the case's batch: uneven parts
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape)
    wt = rng.standard_normal((x.shape[1], w.shape[0] // g) + w.shape[2:])
    op = _output_padding(s, d)

    def everything():
        y, cols = KC.conv2d_forward(x, w, b, s, p, d, g, keep_columns=True)
        out = (y, cols) + KC.conv2d_backward(gy, x, w, s, p, d, g, ALL)
        out += KC.conv2d_backward(gy, x, w, s, p, d, g, ALL, cols)
        y_t = KC.conv_transpose2d_forward(x, wt, None, s, p, op, d, g)
        return out + (y_t,) + KC.conv_transpose2d_backward(np.ones_like(y_t), x, wt, s, p, op, d, g, ALL)[:2]

    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 1 << 62)
    want = everything()
    threads = set()
    real_im2col = cpu_conv._CPU.im2col

    def im2col(*args):
        if threading.get_ident() not in threads:
            threads.add(threading.get_ident())
            time.sleep(0.05)  # while this thread starts its first part, the others take theirs
        return real_im2col(*args)

    monkeypatch.setattr(cpu_conv._CPU, "im2col", im2col)
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 3)
    for chunk_bytes in (None, 1):
        monkeypatch.setattr(cpu_conv._CPU, "chunk_bytes", chunk_bytes)
        for a, b_ in zip(everything(), want):
            np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
    assert len(threads) >= 3  # (the pool may hold more threads than a call uses, from an earlier call)


SEVEN_OUT = (2, 3, 7, 6, 7, (3, 3), (1, 1), (1, 1), (1, 1), 1, True)  # 7 rows: groups of 4 and 3


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[8], SEVEN_OUT],
                         ids=["plain", "groups", "strided-groups", "seven-out"])
def test_weight_gradient_few_rows_loop_equals_blas(monkeypatch, case):
    """Up to FEW_ROWS output channels per group the weight gradient runs in a Numba loop, above in BLAS."""
    rng = np.random.default_rng(5)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng)
    x = np.concatenate([x, x[::-1], x])  # several batch chunks: the loop accumulates across them
    gy = rng.standard_normal(KC.conv2d_forward(x, w, b, s, p, d, g).shape)
    results = []
    for few_rows in (cpu_conv.FEW_ROWS, 0):
        monkeypatch.setattr(cpu_conv, "FEW_ROWS", few_rows)
        monkeypatch.setattr(cpu_conv._CPU, "chunk_bytes", 8 * w[0].size * gy[0, 0].size)  # ~1 sample
        results.append(KC.conv2d_backward(gy, x, w, s, p, d, g, (False, True, False))[1])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[5]], ids=["plain", "groups", "depthwise"])
def test_forward_columns_serve_the_weight_gradient(monkeypatch, case):
    """keep_columns hands forward's im2col to backward: same numbers, and backward runs no im2col."""
    rng = np.random.default_rng(13)
    x, w, b, s, p, d, g = _conv_args(case, np.float64, rng)
    y, cols = KC.conv2d_forward(x, w, b, s, p, d, g, keep_columns=True)
    np.testing.assert_allclose(y, KC.conv2d_forward(x, w, b, s, p, d, g), **_tol(x.dtype))  # maybe direct
    gy = rng.standard_normal(y.shape)
    want = KC.conv2d_backward(gy, x, w, s, p, d, g, ALL)
    KC.conv2d_forward(2 * x, w, b, s, p, d, g)  # reuses the workspace: kept columns must not live there
    calls = []
    real_im2col = cpu_conv._CPU.im2col
    monkeypatch.setattr(cpu_conv._CPU, "im2col", lambda *a: calls.append(1) or real_im2col(*a))
    got = KC.conv2d_backward(gy, x, w, s, p, d, g, ALL, cols)
    assert calls == []
    for a, b_ in zip(got, want):
        np.testing.assert_array_equal(a, b_)
    # the whole batch's columns also serve a backward that splits the batch into chunks
    monkeypatch.setattr(cpu_conv._CPU, "chunk_bytes", 1)
    for a, b_ in zip(KC.conv2d_backward(gy, x, w, s, p, d, g, ALL, cols), want):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
    assert calls == []


def test_forward_keeps_columns_only_up_to_the_cap(monkeypatch):
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((4, 3, 6, 6)), rng.standard_normal((2, 3, 3, 3))
    nbytes = 3 * 9 * 4 * 16 * 8  # the (C*kH*kW, N*Ho*Wo) float64 columns
    monkeypatch.setattr(conv_impl, "KEEP_COLUMNS_BYTES", nbytes)
    assert KC.conv2d_forward(x, w, None, 1, 0, 1, 1, keep_columns=True)[1].shape == (27, 64)
    monkeypatch.setattr(conv_impl, "KEEP_COLUMNS_BYTES", nbytes - 1)
    y, cols = KC.conv2d_forward(x, w, None, 1, 0, 1, 1, keep_columns=True)
    assert cols is None and y.shape == (4, 2, 4, 4)
    # kept columns do not depend on how the batch is split (each part fills its own columns)
    monkeypatch.setattr(conv_impl, "KEEP_COLUMNS_BYTES", nbytes)
    whole = KC.conv2d_forward(x, w, None, 1, 0, 1, 1, keep_columns=True)[1]
    monkeypatch.setattr(batch_threads, "MIN_SPLIT_BYTES", 0)
    np.testing.assert_array_equal(KC.conv2d_forward(x, w, None, 1, 0, 1, 1, keep_columns=True)[1], whole)


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_conv2d_backward_bad_columns(no_kernels, K):
    xp = np if K is KC else gxp
    x, w, gy = (xp.zeros(shape, np.float32) for shape in ((2, 3, 8, 8), (4, 3, 3, 3), (2, 4, 6, 6)))
    wrong_shape, wrong_dtype = xp.zeros((27, 71), np.float32), xp.zeros((27, 72), np.float64)
    for bad in (wrong_shape, wrong_dtype, xp.zeros((72, 27), np.float32).T, [[0.0] * 72] * 27):
        with pytest.raises(ValueError, match=r"conv2d_backward: columns must be the C-contiguous \(27, 72\)"):
            K.conv2d_backward(gy, x, w, 1, 0, 1, 1, ALL, bad)


def test_float16_computes_in_float32():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    y16 = KC.conv2d_forward(x.astype(np.float16), w.astype(np.float16), None, (1, 1), (1, 1), (1, 1), 1)
    y32 = KC.conv2d_forward(x.astype(np.float16).astype(np.float32), w.astype(np.float16).astype(np.float32),
                            None, (1, 1), (1, 1), (1, 1), 1)
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16, y32.astype(np.float16), rtol=1e-3, atol=1e-3)


def test_outputs_do_not_alias_the_workspace():
    """The CPU reuses scratch buffers; results of one call must survive the next."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    y1 = KC.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    keep = y1.copy()
    KC.conv2d_forward(2 * x, w, None, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(y1, keep)


# ---------------------------------------------------------------- CUDA (simulator on CPU) vs CPU
# tiny shapes: the simulator runs a few thousand kernel threads per second. Each case still launches
# more than one 256-thread block in both kernels.
CUDA_CASES = [
    (2, 3, 8, 7, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
    (2, 4, 7, 6, 4, (3, 2), (2, 1), (2, 0), (1, 2), 2, False),
    (2, 4, 7, 6, 4, (3, 3), (1, 2), (1, 1), (2, 1), 4, True),     # depthwise
]


def _to_dev(a):
    return None if a is None else gxp.asarray(a)


def _to_host(a):
    return None if a is None else gxp.asnumpy(a)


@pytest.mark.parametrize("case", CUDA_CASES, ids=[f"cuda{i}" for i in range(len(CUDA_CASES))])
def test_cuda_conv2d_matches_cpu(case):
    rng = np.random.default_rng(9)
    x, w, b, s, p, d, g = _conv_args(case, np.float32, rng)
    y = KC.conv2d_forward(x, w, b, s, p, d, g)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y_dev = KG.conv2d_forward(_to_dev(x), _to_dev(w), _to_dev(b), s, p, d, g)
    np.testing.assert_allclose(_to_host(y_dev), y, rtol=1e-5, atol=1e-5)
    want = KC.conv2d_backward(gy, x, w, s, p, d, g, ALL)
    got = KG.conv2d_backward(_to_dev(gy), _to_dev(x), _to_dev(w), s, p, d, g, ALL)
    for a, b_ in zip(got, want):
        np.testing.assert_allclose(_to_host(a), b_, rtol=1e-5, atol=1e-5)
    # forward's columns handed to backward on the device, as gpunet's conv2d does
    _, cols = KG.conv2d_forward(_to_dev(x), _to_dev(w), _to_dev(b), s, p, d, g, keep_columns=True)
    got = KG.conv2d_backward(_to_dev(gy), _to_dev(x), _to_dev(w), s, p, d, g, ALL, cols)
    for a, b_ in zip(got, want):
        np.testing.assert_allclose(_to_host(a), b_, rtol=1e-5, atol=1e-5)


def test_cuda_conv_transpose2d_matches_cpu():
    rng = np.random.default_rng(10)
    x, w, b, s, p, d, g = _conv_args((2, 4, 4, 3, 4, (3, 3), (2, 2), (1, 1), (1, 1), 2, True),
                                     np.float32, rng, transposed=True)
    op = (1, 0)
    y = KC.conv_transpose2d_forward(x, w, b, s, p, op, d, g)
    assert y.size > 256  # col2im runs one thread per element of y: more than one block
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y_dev = KG.conv_transpose2d_forward(_to_dev(x), _to_dev(w), _to_dev(b), s, p, op, d, g)
    np.testing.assert_allclose(_to_host(y_dev), y, rtol=1e-5, atol=1e-5)
    got = KG.conv_transpose2d_backward(_to_dev(gy), _to_dev(x), _to_dev(w), s, p, op, d, g, ALL)
    for a, want in zip(got, KC.conv_transpose2d_backward(gy, x, w, s, p, op, d, g, ALL)):
        np.testing.assert_allclose(_to_host(a), want, rtol=1e-5, atol=1e-5)


def test_cuda_im2col_col2im_write_every_element():
    """Launchers on NaN-poisoned buffers: any element a kernel fails to write stays NaN."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    w = np.zeros((4, 3, 3, 2), np.float32)
    g = conv2d_geometry("test", x, w, None, (2, 1), (1, 1), (1, 2), 1)
    shape = (g.C * g.kH * g.kW, g.N * g.Ho * g.Wo)
    assert shape[0] * shape[1] > 256 and x.size > 256  # more than one block
    cols = np.empty(shape, np.float32)
    cpu_conv._CPU.im2col(x, g, cols, 0)
    cols_dev = gxp.full(shape, np.nan, dtype=np.float32)
    cuda_conv._CUDA.im2col(_to_dev(x), g, cols_dev, 0)
    np.testing.assert_array_equal(_to_host(cols_dev), cols)
    # at a column offset of a wider matrix (both backends): only those columns are written
    for backend, to, back in ((cpu_conv._CPU, np.asarray, np.asarray), (cuda_conv._CUDA, _to_dev, _to_host)):
        wide = to(np.full((shape[0], shape[1] + 9), np.nan, np.float32))
        backend.im2col(to(x), g, wide, 5)
        wide = back(wide)
        np.testing.assert_array_equal(wide[:, 5:5 + shape[1]], cols)
        assert np.isnan(wide[:, :5]).all() and np.isnan(wide[:, 5 + shape[1]:]).all()
    gx = np.empty_like(x)
    cpu_conv._CPU.col2im(cols, g, gx)
    gx_dev = gxp.full(x.shape, np.nan, dtype=np.float32)
    cuda_conv._CUDA.col2im(_to_dev(cols), g, gx_dev)
    np.testing.assert_allclose(_to_host(gx_dev), gx, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- validation before any kernel runs
@pytest.fixture
def no_kernels(monkeypatch):
    """Make every im2col / col2im / GEMM entry point fail loudly: validation must raise first."""
    def boom(*args, **kwargs):
        raise AssertionError("a kernel ran before argument validation")
    for backend in (cpu_conv._CPU, cuda_conv._CUDA):
        monkeypatch.setattr(backend, "im2col", boom)
        monkeypatch.setattr(backend, "col2im", boom)


def _x(shape=(2, 3, 8, 8), dtype=np.float32):
    return np.zeros(shape, dtype)


BAD_CONV2D = [
    # (x, w, b, stride, padding, dilation, groups, error, message fragment)
    (_x((3, 8, 8)), _x((4, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, ValueError, "4-D"),
    (_x(), _x((4, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, ValueError, "4-D"),
    (_x(), _x((4, 2, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, ValueError, "channels"),
    (_x((2, 4, 8, 8)), _x((3, 2, 3, 3)), None, (1, 1), (0, 0), (1, 1), 2, ValueError, "divisible"),
    (_x((2, 3, 2, 8)), _x((4, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, ValueError, "larger than the"),
    (_x(), _x((4, 3, 3, 3)), None, (1, 1), (0, 0), (4, 4), 1, ValueError, "larger than the padded"),
    (_x(), _x((4, 3, 3, 3)), None, (0, 1), (0, 0), (1, 1), 1, ValueError, "stride"),
    (_x(), _x((4, 3, 3, 3)), None, (1, 1), (0, 0), (1, -1), 1, ValueError, "dilation"),
    (_x(), _x((4, 3, 3, 3)), None, (1, 1), (-1, 0), (1, 1), 1, ValueError, "padding"),
    (_x(), _x((4, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 0, ValueError, "groups"),
    (_x(dtype=np.int32), _x((4, 3, 3, 3), np.int32), None, (1, 1), (0, 0), (1, 1), 1, TypeError, "floating"),
    (_x(), _x((4, 3, 3, 3), np.float64), None, (1, 1), (0, 0), (1, 1), 1, TypeError, "dtype"),
    (_x(), _x((4, 3, 3, 3)), _x((3,)), (1, 1), (0, 0), (1, 1), 1, ValueError, "bias"),
    (_x(), _x((4, 3, 3, 3)), _x((4,), np.float64), (1, 1), (0, 0), (1, 1), 1, TypeError, "bias"),
]


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
@pytest.mark.parametrize("bad", BAD_CONV2D, ids=[f"bad{i}" for i in range(len(BAD_CONV2D))])
def test_conv2d_bad_arguments(no_kernels, K, bad):
    x, w, b, s, p, d, g, err, msg = bad
    with pytest.raises(err, match=msg) as info:
        K.conv2d_forward(x, w, b, s, p, d, g)
    assert "conv2d_forward" in str(info.value)
    if b is not None:
        return  # conv2d_backward takes no bias
    gy = _x((2, 4, 6, 6))
    with pytest.raises((ValueError, TypeError), match="conv2d_backward"):
        K.conv2d_backward(gy, x, w, s, p, d, g, ALL)


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_conv2d_backward_bad_grad_output(no_kernels, K):
    x, w = _x(), _x((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_backward: grad_output has shape \(2, 4, 5, 6\)"):
        K.conv2d_backward(_x((2, 4, 5, 6)), x, w, (1, 1), (0, 0), (1, 1), 1, ALL)
    with pytest.raises(TypeError, match="conv2d_backward: grad_output dtype"):
        K.conv2d_backward(_x((2, 4, 6, 6), np.float64), x, w, (1, 1), (0, 0), (1, 1), 1, ALL)
    with pytest.raises(ValueError, match="conv2d_backward: needs"):
        K.conv2d_backward(_x((2, 4, 6, 6)), x, w, (1, 1), (0, 0), (1, 1), 1, (True, True))


@pytest.mark.parametrize("K", [KC, KG], ids=["cpu", "cuda"])
def test_conv_transpose2d_bad_arguments(no_kernels, K):
    op = "conv_transpose2d_forward"
    x, w = _x((2, 4, 5, 5)), _x((4, 3, 3, 3))
    base = {"b": None, "stride": (2, 2), "padding": (0, 0), "output_padding": (0, 0),
            "dilation": (1, 1), "groups": 1}

    def call(**kw):
        args = {**base, **kw}
        return K.conv_transpose2d_forward(kw.get("x", x), kw.get("w", w), args["b"], args["stride"],
                                          args["padding"], args["output_padding"], args["dilation"],
                                          args["groups"])
    with pytest.raises(ValueError, match=f"{op}: output_padding .* smaller than either stride"):
        call(output_padding=(2, 0))
    with pytest.raises(ValueError, match=f"{op}: input has 3 channels"):
        call(x=_x((2, 3, 5, 5)))
    with pytest.raises(ValueError, match=f"{op}: in_channels 4 .* divisible by groups=3"):
        call(groups=3)
    with pytest.raises(ValueError, match=f"{op}: bias must have shape \\(3,\\)"):
        call(b=_x((4,)))
    with pytest.raises(ValueError, match=f"{op}: output size would be"):
        call(padding=(6, 6))
    with pytest.raises(ValueError, match=f"{op}: output_padding must be non-negative"):
        call(output_padding=(-1, 0))
    with pytest.raises(ValueError, match="conv_transpose2d_backward: grad_output has shape"):
        K.conv_transpose2d_backward(_x((2, 3, 5, 5)), x, w, (2, 2), (0, 0), (0, 0), (1, 1), 1, ALL)
