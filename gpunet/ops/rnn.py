"""Recurrent cell steps as fused Ops: one node per time step instead of a dozen.

The input projection x @ W_ih^T + b_ih is computed for the whole sequence at once (one GEMM) by
the layer; each step Op then takes that projection `gi` and the previous state.
Gate orders follow PyTorch, so weights port both ways: LSTM (i, f, g, o), GRU (r, z, n).
"""
from gpunet.autograd.function import Op


_NO_GRAPH_WHY = (": the fused cell saves its gates, not the input projection they are computed from "
                 "(that would add to every step's memory); for higher-order gradients write the cell with "
                 "linear, sigmoid and tanh")


class GRUStep(Op):
    _backward_name = "GruCellBackward0"
    _no_graph_why = _NO_GRAPH_WHY

    @staticmethod
    def forward(ctx, gi, h, w_hh, b_hh):
        h_new, r, z, n, gh_n = ctx.device.K.gru_gates(gi, h @ w_hh.T, h, b_hh)
        ctx.save_for_backward(h, w_hh, r, z, n, gh_n)
        return h_new

    @staticmethod
    def backward(ctx, g):
        h, w_hh, r, z, n, gh_n = ctx.saved_tensors
        dgi, dgh, dh = ctx.device.K.gru_gates_backward(g, h, r, z, n, gh_n)
        need_gi, need_h, need_w, need_b = ctx.needs_input_grad
        if need_h:
            dh += dgh @ w_hh
        return ((dgi if need_gi else None), (dh if need_h else None), (dgh.T @ h if need_w else None),
                (dgh.sum(axis=0) if need_b else None))


class LSTMStep(Op):
    _backward_name = "LstmCellBackward0"
    _no_graph_why = _NO_GRAPH_WHY

    @staticmethod
    def forward(ctx, gi, h, c, w_hh, b_hh):
        h_new, c_new, i, f, g, o, tc = ctx.device.K.lstm_gates(gi, h @ w_hh.T, c, b_hh)
        ctx.save_for_backward(h, c, w_hh, i, f, g, o, tc)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        h, c, w_hh, i, f, g, o, tc = ctx.saved_tensors
        dgates, dc = ctx.device.K.lstm_gates_backward(dh_new, dc_new, c, i, f, g, o, tc)
        need_gi, need_h, need_c, need_w, need_b = ctx.needs_input_grad
        return ((dgates if need_gi else None), (dgates @ w_hh if need_h else None),
                (dc if need_c else None), (dgates.T @ h if need_w else None),
                (dgates.sum(axis=0) if need_b else None))
