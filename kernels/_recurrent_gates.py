"""The gates of one GRU or LSTM step as array operations of a NumPy-like module `xp`: the fallback of
kernels.cpu's loops and kernels.cuda's kernels for the dtypes they do not take (float16, mixed dtypes).

The formulas are kernels/_recurrent_math.py's, applied to whole arrays; `sigmoid` is the backend's. The
step's matrix products stay with the caller (gpunet/ops/rnn.py): gh = h @ W_hh^T comes in without b_hh.
"""
from kernels import _recurrent_math as M


def _one(a):
    return a.dtype.type(1)


def compiled_arrays(xp, *arrays):
    """The arrays C-contiguous for a backend's compiled gates (kernels.cpu's loops, kernels.cuda's kernels),
    or None when their dtypes are not all float32 or all float64: those take this module's array code.
    None entries (an absent bias or gradient) pass through."""
    dtype = arrays[0].dtype
    # dtype.char, not dtype.name: NumPy builds the name in Python, ~6 us of a 13 us step's gates
    if dtype.char not in ("f", "d") or any(a is not None and a.dtype != dtype for a in arrays):
        return None
    return [None if a is None else xp.ascontiguousarray(a) for a in arrays]


def or_zeros(xp, a, shape, like):
    """a, or zeros of `shape` in like's dtype where a is None (an absent bias or gradient)."""
    return xp.zeros(shape, like.dtype) if a is None else a


def gru_gates(xp, sigmoid, gi, gh, h, b_hh):
    """(h_new, r, z, n, gh_n), each (batch, hidden); gh_n is gh's n part with its bias."""
    if b_hh is not None:
        gh = gh + b_hh
    H = h.shape[-1]
    r = sigmoid(gi[:, :H] + gh[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    gh_n = gh[:, 2 * H:]
    n = xp.tanh(M.gru_n_pre(gi[:, 2 * H:], r, gh_n))
    return M.gru_blend(n, z, h), r, z, n, gh_n


def gru_gates_backward(xp, grad, h, r, z, n, gh_n):
    """(d gi, d gh, grad * z): the gradients of gi and of gh + b_hh, and the part of h's gradient that does
    not pass through gh."""
    dr, dz, dn, dn_r, dh = M.gru_backward(grad, h, r, z, n, gh_n, _one(h))
    return xp.concatenate([dr, dz, dn], axis=1), xp.concatenate([dr, dz, dn_r], axis=1), dh


def lstm_gates(xp, sigmoid, gi, gh, c, b_hh):
    """(h_new, c_new, i, f, g, o, tanh(c_new)), each (batch, hidden)."""
    gates = gi + gh
    if b_hh is not None:
        gates = gates + b_hh
    H = c.shape[-1]
    i = sigmoid(gates[:, :H])
    f = sigmoid(gates[:, H:2 * H])
    g = xp.tanh(gates[:, 2 * H:3 * H])
    o = sigmoid(gates[:, 3 * H:])
    c_new = M.lstm_cell(f, c, i, g)
    tc = xp.tanh(c_new)
    return o * tc, c_new, i, f, g, o, tc


def lstm_gates_backward(xp, grad_h, grad_c, c, i, f, g, o, tc):
    """(d gates, d c) from the gradients of h_new and c_new (either may be None: no gradient)."""
    *d_gates, dc = M.lstm_backward(or_zeros(xp, grad_h, c.shape, c), or_zeros(xp, grad_c, c.shape, c),
                                   c, i, f, g, o, tc, _one(c))
    return xp.concatenate(d_gates, axis=1), dc
