"""An LSTM layer's sequence in one direction, step by step, for a backend's gate functions: what kernels.cuda
runs, and kernels.cpu where its fused loops (kernels/cpu/_lstm_sequence.py) do not apply.

Each step is the product h @ W_hh^T (one GEMM of the backend) and the backend's ``lstm_gates``; backward
walks the steps back with ``lstm_gates_backward`` and one product d gates @ W_hh per step. The weight's and
biases' gradients, one product and one sum over all steps, stay with the caller (gpunet/ops/rnn.py).
"""


def _steps(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def lstm_forward(xp, lstm_gates, gi, h0, c0, w_hh, b_hh, reverse):
    """(states (T, B, H), cells (T, B, H), the gates each step saved: a list of T tuples)."""
    states = xp.empty((gi.shape[0],) + h0.shape, h0.dtype)
    cells = xp.empty_like(states)
    gates = [None] * gi.shape[0]  # per step (i, f, g, o, tanh(c))
    h, c = h0, c0
    for t in _steps(gi.shape[0], reverse):
        h, c, *gates[t] = lstm_gates(gi[t], h @ w_hh.T, c, b_hh)
        states[t], cells[t] = h, c
    return states, cells, gates


def lstm_backward(xp, lstm_gates_backward, g_states, g_c, c0, w_hh, cells, gates, reverse):
    """(d gates (T, B, 4H), d h0, d c0) from the gradients of the states and of the last cell state (either
    may be None)."""
    T, B, H = cells.shape
    c_starts = xp.concatenate((cells[1:], c0[None])) if reverse else xp.concatenate((c0[None], cells[:-1]))
    dgates = xp.empty((T, B, 4 * H), cells.dtype)
    dh, dc = None, g_c
    for t in reversed(_steps(T, reverse)):
        grad_h = dh if g_states is None else (g_states[t] if dh is None else g_states[t] + dh)
        dgates[t], dc = lstm_gates_backward(grad_h, dc, c_starts[t], *gates[t])
        dh = dgates[t] @ w_hh
    return dgates, dh, dc
