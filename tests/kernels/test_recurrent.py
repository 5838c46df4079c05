"""The GRU and LSTM gates (kernels/cpu/recurrent.py): the fused loops give the bits of the array code they
replace (kernels/_recurrent_gates.py, which kernels.cuda runs), and that code follows PyTorch's equations
(a scalar reference in float64 here; the layers against torch.nn: tests/gpunet/nn/modules/test_rnn.py)."""
import math

import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _recurrent_gates as gates
from kernels.cpu import recurrent
from kernels.cpu.activation import sigmoid

LOOPS = ("_gru_pre", "_gru_blend", "_gru_backward", "_lstm_pre", "_lstm_cell", "_lstm_backward")


def _spy(monkeypatch):
    calls = []
    for name in LOOPS:
        loop = getattr(recurrent, name)
        monkeypatch.setattr(recurrent, name,
                            lambda *a, _loop=loop, _name=name: calls.append(_name) or _loop(*a))
    return calls


def _arrays(rng, dtype, *shapes, scale=2.0):
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]


def _same_bits(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gru_loops_give_the_array_codes_bits(monkeypatch, dtype, with_bias):
    rng = np.random.default_rng(7)
    B, H = 5, 19  # 19: a vector's remainder in every gate slice
    gi, gh, h, b, grad = _arrays(rng, dtype, (B, 3 * H), (B, 3 * H), (B, H), (3 * H,), (B, H))
    b = b if with_bias else None
    calls = _spy(monkeypatch)
    got = KC.gru_gates(gi, gh, h, b)
    want = gates.gru_gates(np, sigmoid, gi, gh, h, b)
    _same_bits(got, want)
    _same_bits(KC.gru_gates_backward(grad, h, *got[1:]), gates.gru_gates_backward(np, grad, h, *want[1:]))
    assert calls == ["_gru_pre", "_gru_blend", "_gru_backward"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("grads", ["both", "h only", "c only"])
def test_lstm_loops_give_the_array_codes_bits(monkeypatch, dtype, with_bias, grads):
    rng = np.random.default_rng(8)
    B, H = 4, 19
    gi, gh, c, b, gh_, gc_ = _arrays(rng, dtype, (B, 4 * H), (B, 4 * H), (B, H), (4 * H,), (B, H), (B, H))
    b = b if with_bias else None
    grad_h, grad_c = (None if grads == "c only" else gh_), (None if grads == "h only" else gc_)
    calls = _spy(monkeypatch)
    got = KC.lstm_gates(gi, gh, c, b)
    want = gates.lstm_gates(np, sigmoid, gi, gh, c, b)
    _same_bits(got, want)
    _same_bits(KC.lstm_gates_backward(grad_h, grad_c, c, *got[2:]),
               gates.lstm_gates_backward(np, grad_h, grad_c, c, *want[2:]))
    assert calls == ["_lstm_pre", "_lstm_cell", "_lstm_backward"]


def test_non_contiguous_inputs_are_copied_for_the_loops(monkeypatch):
    rng = np.random.default_rng(9)
    B, H = 3, 6
    wide, gh, hT = _arrays(rng, np.float32, (B, 5 * H), (B, 3 * H), (H, B))
    gi, h = wide[:, H:4 * H], hT.T  # a column slice and a transposed view
    calls = _spy(monkeypatch)
    _same_bits(KC.gru_gates(gi, gh, h, None), gates.gru_gates(np, sigmoid, gi, gh, h, None))
    assert calls == ["_gru_pre", "_gru_blend"]


def test_other_dtypes_take_the_array_code(monkeypatch):
    rng = np.random.default_rng(10)
    B, H = 2, 5
    gi, gh, h = _arrays(rng, np.float16, (B, 3 * H), (B, 3 * H), (B, H))
    calls = _spy(monkeypatch)
    got = KC.gru_gates(gi, gh, h, None)
    assert calls == [] and all(a.dtype == np.float16 for a in got)
    _same_bits(got, gates.gru_gates(np, sigmoid, gi, gh, h, None))
    mixed = KC.gru_gates(gi.astype(np.float32), gh, h, None)  # mixed dtypes: NumPy's promotion, no loop
    assert calls == [] and mixed[0].dtype == np.float32


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_gru_follows_pytorchs_equations():
    # r = s(gi_r + gh_r + b_r), z = s(gi_z + gh_z + b_z), n = tanh(gi_n + r * (gh_n + b_n)),
    # h' = (1 - z) * n + z * h (torch.nn.GRU's documentation), one element at a time in float64
    rng = np.random.default_rng(11)
    B, H = 2, 3
    gi, gh, h, b = _arrays(rng, np.float64, (B, 3 * H), (B, 3 * H), (B, H), (3 * H,))
    h_new = KC.gru_gates(gi, gh, h, b)[0]
    for i in range(B):
        for j in range(H):
            r = _sig(gi[i, j] + gh[i, j] + b[j])
            z = _sig(gi[i, H + j] + gh[i, H + j] + b[H + j])
            n = math.tanh(gi[i, 2 * H + j] + r * (gh[i, 2 * H + j] + b[2 * H + j]))
            assert h_new[i, j] == pytest.approx((1 - z) * n + z * h[i, j], rel=1e-12, abs=1e-14)


def test_lstm_follows_pytorchs_equations():
    # i, f, o = s(.), g = tanh(.), c' = f * c + i * g, h' = o * tanh(c') (torch.nn.LSTM's documentation)
    rng = np.random.default_rng(12)
    B, H = 2, 3
    gi, gh, c, b = _arrays(rng, np.float64, (B, 4 * H), (B, 4 * H), (B, H), (4 * H,))
    h_new, c_new = KC.lstm_gates(gi, gh, c, b)[:2]
    pre = gi + gh + b
    for i in range(B):
        for j in range(H):
            ig, fg, og = _sig(pre[i, j]), _sig(pre[i, H + j]), _sig(pre[i, 3 * H + j])
            cn = fg * c[i, j] + ig * math.tanh(pre[i, 2 * H + j])
            assert c_new[i, j] == pytest.approx(cn, rel=1e-12, abs=1e-14)
            assert h_new[i, j] == pytest.approx(og * math.tanh(cn), rel=1e-12, abs=1e-14)


# ---- kernels.cuda: the fused kernels (in Numba's CUDA simulator here) against the array code ------------
def _cuda():
    import kernels.cuda
    if not kernels.cuda.available():
        pytest.skip(f"kernels.cuda unavailable: {kernels.cuda.unavailable_reason()}")
    return kernels.cuda


def _close(got, want, K, dtype):
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = K.xp.asnumpy(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_cuda_gru_kernels_match_the_array_code(dtype, with_bias):
    K = _cuda()
    rng = np.random.default_rng(13)
    B, H = 2, 5
    gi, gh, h, b, grad = _arrays(rng, dtype, (B, 3 * H), (B, 3 * H), (B, H), (3 * H,), (B, H), scale=4.0)
    gi[0, :3] = [-120.0, 120.0, 0.0]  # a sigmoid's exp(-x) would overflow at -120 in float32
    b = b if with_bias else None
    want = gates.gru_gates(np, sigmoid, gi, gh, h, b)
    got = K.gru_gates(*(None if a is None else K.xp.asarray(a) for a in (gi, gh, h, b)))
    _close(got, want, K, dtype)
    _close(K.gru_gates_backward(K.xp.asarray(grad), K.xp.asarray(h), *got[1:]),
           gates.gru_gates_backward(np, grad, h, *want[1:]), K, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grads", ["both", "h only", "c only"])
def test_cuda_lstm_kernels_match_the_array_code(dtype, grads):
    K = _cuda()
    rng = np.random.default_rng(14)
    B, H = 2, 4
    gi, gh, c, b, gh_, gc_ = _arrays(rng, dtype, (B, 4 * H), (B, 4 * H), (B, H), (4 * H,), (B, H), (B, H),
                                     scale=4.0)
    grad_h, grad_c = (None if grads == "c only" else gh_), (None if grads == "h only" else gc_)
    want = gates.lstm_gates(np, sigmoid, gi, gh, c, b)
    got = K.lstm_gates(*(K.xp.asarray(a) for a in (gi, gh, c, b)))
    _close(got, want, K, dtype)
    dev = [None if a is None else K.xp.asarray(a) for a in (grad_h, grad_c)]
    _close(K.lstm_gates_backward(*dev, K.xp.asarray(c), *got[2:]),
           gates.lstm_gates_backward(np, grad_h, grad_c, c, *want[2:]), K, dtype)


def test_cuda_float16_takes_the_array_code():
    K = _cuda()
    rng = np.random.default_rng(15)
    gi, gh, h = _arrays(rng, np.float16, (2, 6), (2, 6), (2, 2))
    got = K.gru_gates(*(K.xp.asarray(a) for a in (gi, gh, h)), None)
    assert all(a.dtype == np.float16 for a in got)
    np.testing.assert_allclose(K.xp.asnumpy(got[0]).astype(np.float32),
                               gates.gru_gates(np, sigmoid, gi, gh, h, None)[0].astype(np.float32),
                               rtol=2e-3, atol=2e-3)
