"""The gates of one GRU or LSTM step on the device: kernels/_recurrent_gates.py's array code on CuPy (an
elementwise kernel per operation; kernels.cpu fuses them into one Numba pass per direction)."""
from kernels import _recurrent_gates as _gates
from kernels.cuda._launch import xp
from kernels.cuda.activation import sigmoid

__all__ = ["gru_gates", "gru_gates_backward", "lstm_gates", "lstm_gates_backward"]


def gru_gates(gi, gh, h, b_hh):
    """One GRU step's gates: (h_new, r, z, n, gh_n) for gi = x @ W_ih^T + b_ih and gh = h @ W_hh^T (without
    b_hh, which may be None); each (batch, hidden)."""
    return _gates.gru_gates(xp, sigmoid, gi, gh, h, b_hh)


def gru_gates_backward(grad, h, r, z, n, gh_n):
    """(d gi, d gh, grad * z) of gru_gates: the gradients of gi and of gh + b_hh, and the part of h's
    gradient that does not pass through gh."""
    return _gates.gru_gates_backward(xp, grad, h, r, z, n, gh_n)


def lstm_gates(gi, gh, c, b_hh):
    """One LSTM step's gates: (h_new, c_new, i, f, g, o, tanh(c_new)) for gi = x @ W_ih^T + b_ih and
    gh = h @ W_hh^T (without b_hh, which may be None); each (batch, hidden)."""
    return _gates.lstm_gates(xp, sigmoid, gi, gh, c, b_hh)


def lstm_gates_backward(grad_h, grad_c, c, i, f, g, o, tc):
    """(d gates, d c) of lstm_gates from the gradients of h_new and c_new (either may be None)."""
    return _gates.lstm_gates_backward(xp, grad_h, grad_c, c, i, f, g, o, tc)
