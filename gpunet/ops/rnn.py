"""GRU and LSTM as fused Ops: one step (the cells), or a layer's whole sequence in one direction.

The input projection x @ W_ih^T + b_ih is computed for the whole sequence at once (one GEMM) by
the layer; the Ops take that projection `gi` and the initial state. A sequence Op is one graph node:
its backward walks the steps back and takes the recurrent weight's and bias's gradients as one product
and one sum over all steps (per step, a (3H x B) @ (B x H) product and its sum into the weight's
gradient took ~45 us of a 32 x 128 GRU step; over 100 steps, one product took 1.8 ms against 4.6).
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


def _order(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _starts(xp, states, first, reverse):
    """(T, B, H): the state each step started from, in time order: `first` (h0 or c0) for the first step
    taken, the state the step before left for the others."""
    if reverse:
        return xp.concatenate((states[1:], first[None]))
    return xp.concatenate((first[None], states[:-1]))


class GRUSequence(Op):
    """nn.GRU's layer in one direction: gi (T, B, 3H), h0 (B, H) -> the states after each step (T, B, H),
    in time order (reverse: the steps run from t = T - 1 down)."""
    _backward_name = "GruBackward0"
    _no_graph_why = _NO_GRAPH_WHY

    @staticmethod
    def forward(ctx, gi, h0, w_hh, b_hh, reverse):
        K = ctx.device.K
        states = ctx.device.xp.empty((gi.shape[0],) + h0.shape, h0.dtype)
        gates = [None] * gi.shape[0]  # per step (r, z, n, gh_n)
        h = h0
        for t in _order(gi.shape[0], reverse):
            h, *gates[t] = K.gru_gates(gi[t], h @ w_hh.T, h, b_hh)
            states[t] = h
        ctx.save_for_backward(h0, w_hh, states, gates, reverse)
        return states

    @staticmethod
    def backward(ctx, g):
        h0, w_hh, states, gates, reverse = ctx.saved_tensors
        xp, K = ctx.device.xp, ctx.device.K
        need_gi, need_h0, need_w, need_b, _ = ctx.needs_input_grad
        starts = _starts(xp, states, h0, reverse)
        dgi, dgh = (xp.empty((g.shape[0], g.shape[1], w_hh.shape[0]), g.dtype) for _ in range(2))
        dh = None
        for t in reversed(_order(g.shape[0], reverse)):
            dgi[t], dgh[t], dh = K.gru_gates_backward(g[t] if dh is None else g[t] + dh, starts[t], *gates[t])
            dh += dgh[t] @ w_hh
        dgh = dgh.reshape(-1, dgh.shape[2])
        return ((dgi if need_gi else None), (dh if need_h0 else None),
                (dgh.T @ starts.reshape(-1, h0.shape[1]) if need_w else None),
                (dgh.sum(axis=0) if need_b else None), None)


class LSTMSequence(Op):
    """nn.LSTM's layer in one direction: gi (T, B, 4H), h0, c0 (B, H) -> (the hidden states after each
    step (T, B, H) in time order, the last cell state (B, H)); reverse as GRUSequence. The steps run in the
    backend's kernels (K.lstm_sequence: on the CPU, fused loops for float32)."""
    _backward_name = "LstmBackward0"
    _no_graph_why = _NO_GRAPH_WHY

    @staticmethod
    def forward(ctx, gi, h0, c0, w_hh, b_hh, reverse):
        states, cells, gates = ctx.device.K.lstm_sequence(gi, h0, c0, w_hh, b_hh, reverse)
        ctx.save_for_backward(h0, c0, w_hh, states, cells, gates, reverse)
        return states, cells[0 if reverse else -1]  # a view: backward never reads the last cell state

    @staticmethod
    def backward(ctx, g_states, g_c):
        h0, c0, w_hh, states, cells, gates, reverse = ctx.saved_tensors
        need_gi, need_h0, need_c0, need_w, need_b, _ = ctx.needs_input_grad
        dgates, dh, dc = ctx.device.K.lstm_sequence_backward(g_states, g_c, c0, w_hh, cells, gates, reverse)
        flat = dgates.reshape(-1, dgates.shape[2])
        h_starts = _starts(ctx.device.xp, states, h0, reverse)
        return ((dgates if need_gi else None), (dh if need_h0 else None), (dc if need_c0 else None),
                (flat.T @ h_starts.reshape(-1, h0.shape[1]) if need_w else None),
                (flat.sum(axis=0) if need_b else None), None)
