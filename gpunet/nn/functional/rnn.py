"""Recurrent cells (rnn_tanh_cell, rnn_relu_cell, gru_cell, lstm_cell); the GRU and LSTM steps are
fused Ops in gpunet.ops.rnn: one node per time step instead of a dozen.

The input projection x @ W_ih^T + b_ih is computed for the whole sequence at once (one GEMM, `linear`: the
bias added in place) by the layer; each step op then takes that projection `gi` and the previous state.
Gate orders follow PyTorch, so weights port both ways: LSTM (i, f, g, o), GRU (r, z, n).
"""
from gpunet.nn.functional.linear import linear
from gpunet.ops.rnn import GRUStep, LSTMStep

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"]


def _check_cell(input, hx, w_ih, op):
    if input.dim() != 2:
        raise ValueError(f"{op}: expected a 2-D (batch, input_size) input, got shape {list(input.shape)}")
    if input.shape[1] != w_ih.shape[1]:
        raise RuntimeError(f"{op}: input has inconsistent input_size: got {input.shape[1]} "
                           f"expected {w_ih.shape[1]}")
    if hx is not None and (hx.dim() != 2 or hx.shape[0] != input.shape[0]):
        raise RuntimeError(f"{op}: hidden state of shape {list(hx.shape)} does not match input batch size "
                           f"{input.shape[0]}")


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, gi=None):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh). Pass gi to reuse a precomputed input projection."""
    pre = (gi if gi is not None else linear(input, w_ih, b_ih)) + hx.matmul(w_hh.t())
    return (pre if b_hh is None else pre + b_hh).tanh()


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, gi=None):
    pre = (gi if gi is not None else linear(input, w_ih, b_ih)) + hx.matmul(w_hh.t())
    return (pre if b_hh is None else pre + b_hh).relu()


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, gi=None):
    """One GRU step (PyTorch's equations, gates r, z, n)."""
    if gi is None:
        _check_cell(input, hx, w_ih, "gru_cell")
        gi = linear(input, w_ih, b_ih)
    return GRUStep.apply(gi, hx, w_hh, b_hh)


def lstm_cell(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, gi=None):
    """One LSTM step (PyTorch's equations, gates i, f, g, o); returns (h', c')."""
    if gi is None:
        _check_cell(input, hx, w_ih, "lstm_cell")
        gi = linear(input, w_ih, b_ih)
    return LSTMStep.apply(gi, hx, cx, w_hh, b_hh)
