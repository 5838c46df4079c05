"""The fused float32 LSTM sequence loops (kernels/cpu/_lstm_sequence.py) against the step-by-step path they
replace (kernels/_recurrent_sequence.py with kernels.cpu's gate loops, whose gradients
tests/gpunet/nn/modules/test_rnn.py checks by finite differences in float64), run in float64 on the same
values: the fused loops differ from it only by float32 rounding (their tanh is within a few ulp of NumPy's,
their products sum in another order)."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _recurrent_sequence as steps
from kernels.cpu import _lstm_sequence as fused
from kernels.cpu._simd import LANES


def _problem(rng, T, B, H, bias=True):
    gi = rng.standard_normal((T, B, 4 * H)).astype(np.float32)
    w = (rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(np.float32)
    b = rng.standard_normal(4 * H).astype(np.float32) if bias else None
    h0 = (rng.standard_normal((B, H)) * 0.5).astype(np.float32)
    c0 = rng.standard_normal((B, H)).astype(np.float32)
    return gi, h0, c0, w, b


def _f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


def _close(got, want, tol):
    assert got.dtype == np.float32 and got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got - want).max())
    assert err <= tol * scale, (err, scale)


@pytest.mark.parametrize("T,B,H", [(1, 1, LANES), (6, 5, 2 * LANES), (9, 8, 3 * LANES)])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("grads", ["both", "states only", "cell only"])
def test_fused_sequence_matches_the_steps_in_float64(T, B, H, reverse, bias, grads):
    rng = np.random.default_rng(T * 100 + B)
    gi, h0, c0, w, b = _problem(rng, T, B, H, bias)
    assert fused.applies(gi, h0, c0, w, b)
    states, cells, gates = KC.lstm_sequence(gi, h0, c0, w, b, reverse)
    assert isinstance(gates, np.ndarray)  # the fused loops ran
    want_states, want_cells, want_gates = steps.lstm_forward(np, KC.lstm_gates, *_f64(gi, h0, c0, w, b),
                                                             reverse)
    _close(states, want_states, 2e-6)
    _close(cells, want_cells, 2e-6)
    for k in range(5):  # i, f, g, o, tanh(c), as the step path saved them
        _close(gates[k], np.stack([g[k] for g in want_gates]), 2e-6)

    g_states = None if grads == "cell only" else rng.standard_normal((T, B, H)).astype(np.float32)
    g_c = None if grads == "states only" else rng.standard_normal((B, H)).astype(np.float32)
    got = KC.lstm_sequence_backward(g_states, g_c, c0, w, cells, gates, reverse)
    want = steps.lstm_backward(np, KC.lstm_gates_backward, *_f64(g_states, g_c, c0, w, want_cells),
                               want_gates, reverse)
    for g, wt in zip(got, want):
        _close(g, wt, 2e-5)


def test_fused_sequence_reads_a_broadcast_gradient():
    # y.sum()'s gradient reaches the sequence as a stride-0 array
    rng = np.random.default_rng(3)
    gi, h0, c0, w, b = _problem(rng, 4, 3, LANES)
    states, cells, gates = KC.lstm_sequence(gi, h0, c0, w, b, False)
    ones = np.broadcast_to(np.float32(1), states.shape)
    got = KC.lstm_sequence_backward(ones, None, c0, w, cells, gates, False)
    want = KC.lstm_sequence_backward(np.ones(states.shape, np.float32), None, c0, w, cells, gates, False)
    for g, wt in zip(got, want):
        np.testing.assert_array_equal(g, wt)


@pytest.mark.parametrize("case", ["float64", "hidden not whole vectors", "large step"])
def test_other_sequences_take_the_steps(case):
    rng = np.random.default_rng(4)
    T, B, H = 3, 2, LANES
    if case == "hidden not whole vectors":
        H = LANES + 3
    if case == "large step":
        B = fused.MAX_STEP_PRODUCT // (4 * H * H) + 1
    gi, h0, c0, w, b = _problem(rng, T, B, H)
    if case == "float64":
        gi, h0, c0, w, b = _f64(gi, h0, c0, w, b)
    assert not fused.applies(gi, h0, c0, w, b)
    states, cells, gates = KC.lstm_sequence(gi, h0, c0, w, b, False)
    assert isinstance(gates, list) and states.dtype == gi.dtype


def test_tanh_is_within_a_few_ulp():
    from numba import njit

    @njit
    def run(x, out):
        two = np.float32(2)
        for i in range(x.size):
            out[i] = fused._tanh(x[i], two)

    rng = np.random.default_rng(5)
    scales = (1e-6, 1e-3, 0.1, 1, 5, 20)
    x = np.concatenate([rng.standard_normal(20000) * s for s in scales]).astype(np.float32)
    x = np.concatenate([x, np.float32([0.0, -0.0, 1e-30, -1e-30, 9.0, 50.0, -50.0, np.inf, -np.inf])])
    out = np.empty_like(x)
    run(x, out)
    want = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - want) / ulp) <= 3  # 2.7 measured
    assert np.signbit(out[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()
    nan = np.empty(1, np.float32)
    run(np.float32([np.nan]), nan)
    assert np.isnan(nan[0])
