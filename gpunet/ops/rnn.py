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
        xp = ctx.device.xp
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        H = h.shape[-1]
        r = ctx.device.K.sigmoid(gi[:, :H] + gh[:, :H])
        z = ctx.device.K.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        gh_n = gh[:, 2 * H:]
        n = xp.tanh(gi[:, 2 * H:] + r * gh_n)
        h_new = n + z * (h - n)
        ctx.save_for_backward(h, w_hh, r, z, n, gh_n)
        return h_new

    @staticmethod
    def backward(ctx, g):
        h, w_hh, r, z, n, gh_n = ctx.saved_tensors
        xp = ctx.device.xp
        dn_pre = g * (1 - z) * (1 - n * n)
        dz_pre = g * (h - n) * z * (1 - z)
        dr_pre = dn_pre * gh_n * r * (1 - r)
        dgi = xp.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
        dgh = xp.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)
        need_gi, need_h, need_w, need_b = ctx.needs_input_grad
        dh = g * z + dgh @ w_hh if need_h else None
        dw = dgh.T @ h if need_w else None
        db = dgh.sum(axis=0) if need_b else None
        return (dgi if need_gi else None), dh, dw, db


class LSTMStep(Op):
    _backward_name = "LstmCellBackward0"
    _no_graph_why = _NO_GRAPH_WHY

    @staticmethod
    def forward(ctx, gi, h, c, w_hh, b_hh):
        xp = ctx.device.xp
        gates = gi + h @ w_hh.T
        if b_hh is not None:
            gates = gates + b_hh
        H = h.shape[-1]
        i = ctx.device.K.sigmoid(gates[:, :H])
        f = ctx.device.K.sigmoid(gates[:, H:2 * H])
        g = xp.tanh(gates[:, 2 * H:3 * H])
        o = ctx.device.K.sigmoid(gates[:, 3 * H:])
        c_new = f * c + i * g
        tc = xp.tanh(c_new)
        ctx.save_for_backward(h, c, w_hh, i, f, g, o, tc)
        return o * tc, c_new

    @staticmethod
    def backward(ctx, dh_new, dc_new):
        h, c, w_hh, i, f, g, o, tc = ctx.saved_tensors
        xp = ctx.device.xp
        if dh_new is None:
            dh_new = xp.zeros_like(h)
        dc = dh_new * o * (1 - tc * tc)
        if dc_new is not None:
            dc = dc + dc_new
        dgates = xp.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                                 dh_new * tc * o * (1 - o)], axis=1)
        need_gi, need_h, need_c, need_w, need_b = ctx.needs_input_grad
        return ((dgates if need_gi else None), (dgates @ w_hh if need_h else None),
                (dc * f if need_c else None), (dgates.T @ h if need_w else None),
                (dgates.sum(axis=0) if need_b else None))
