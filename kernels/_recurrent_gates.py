"""The gate arithmetic of one GRU or LSTM step, in array operations of any NumPy-like module `xp`.

kernels.cuda runs these with CuPy (one elementwise kernel per operation); kernels.cpu runs its fused
Numba loops (kernels/cpu/recurrent.py) and these only for the dtypes its loops do not take. The step's
matrix products stay with the caller (gpunet/ops/rnn.py): gh = h @ W_hh^T comes in without its bias.
Gate orders follow PyTorch: GRU (r, z, n), LSTM (i, f, g, o).
"""


def gru_gates(xp, sigmoid, gi, gh, h, b_hh):
    """(h_new, r, z, n, gh_n): r = s(gi_r + gh_r), z = s(gi_z + gh_z), gh_n = gh's n part (with the bias),
    n = tanh(gi_n + r * gh_n), h_new = n + z * (h - n); s = `sigmoid`."""
    if b_hh is not None:
        gh = gh + b_hh
    H = h.shape[-1]
    r = sigmoid(gi[:, :H] + gh[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    gh_n = gh[:, 2 * H:]
    n = xp.tanh(gi[:, 2 * H:] + r * gh_n)
    return n + z * (h - n), r, z, n, gh_n


def gru_gates_backward(xp, grad, h, r, z, n, gh_n):
    """(d gi, d gh, grad * z): the gradients of gi and of gh = h @ W_hh^T + b_hh, and the part of h's
    gradient that does not pass through gh."""
    dn_pre = grad * (1 - z) * (1 - n * n)
    dz_pre = grad * (h - n) * z * (1 - z)
    dr_pre = dn_pre * gh_n * r * (1 - r)
    dgi = xp.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
    dgh = xp.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)
    return dgi, dgh, grad * z


def lstm_gates(xp, sigmoid, gi, gh, c, b_hh):
    """(h_new, c_new, i, f, g, o, tanh(c_new)) from the gate pre-activations gi + gh (+ b_hh)."""
    gates = gi + gh
    if b_hh is not None:
        gates = gates + b_hh
    H = c.shape[-1]
    i = sigmoid(gates[:, :H])
    f = sigmoid(gates[:, H:2 * H])
    g = xp.tanh(gates[:, 2 * H:3 * H])
    o = sigmoid(gates[:, 3 * H:])
    c_new = f * c + i * g
    tc = xp.tanh(c_new)
    return o * tc, c_new, i, f, g, o, tc


def lstm_gates_backward(xp, grad_h, grad_c, c, i, f, g, o, tc):
    """(d gates, d c): the gradient of the gate pre-activations and of the previous cell state, from
    the gradients of h_new and c_new (either may be None: no gradient)."""
    if grad_h is None:
        grad_h = xp.zeros_like(c)
    dc = grad_h * o * (1 - tc * tc)
    if grad_c is not None:
        dc = dc + grad_c
    dgates = xp.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                             grad_h * tc * o * (1 - o)], axis=1)
    return dgates, dc * f
