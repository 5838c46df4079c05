"""The per-element maths of the GRU and LSTM gates, written once.

kernels.cpu's loops and kernels.cuda's kernels compile these plain functions (kernels._shared_jit) and
call them on one element's values; kernels/_recurrent_gates.py calls them on whole arrays (every
operation here is elementwise), for the dtypes the loops and kernels do not take. The sigmoids and tanh
around them stay with each backend (a vectorised exp on the CPU, the device's exp and tanh on CUDA).
`one` is 1 in the arrays' dtype: a literal would make Numba's float32 arithmetic float64.
Gate orders follow PyTorch: GRU (r, z, n), LSTM (i, f, g, o).
"""


def gru_n_pre(gi_n, r, gh_n):
    """The candidate's pre-activation: gi_n + r * gh_n (gh_n with its bias)."""
    return gi_n + r * gh_n


def gru_blend(n, z, h):
    """The new state n + z * (h - n), that is (1 - z) * n + z * h."""
    return n + z * (h - n)


def gru_backward(grad, h, r, z, n, gh_n, one):
    """(d r_pre, d z_pre, d n_pre, d n_pre * r, grad * z) from the new state's gradient: the gate
    pre-activations' gradients (the n one twice: for gi, and times r for gh) and the part of h's gradient
    that does not pass through h @ W_hh^T."""
    dn = grad * (one - z) * (one - n * n)
    dz = grad * (h - n) * z * (one - z)
    dr = dn * gh_n * r * (one - r)
    return dr, dz, dn, dn * r, grad * z


def lstm_cell(f, c, i, g):
    """The new cell state f * c + i * g."""
    return f * c + i * g


def lstm_backward(grad_h, grad_c, c, i, f, g, o, tc, one):
    """(d i_pre, d f_pre, d g_pre, d o_pre, d c) from the gradients of h_new = o * tc and c_new (tc =
    tanh(c_new)); a missing gradient comes in as zero."""
    dc = grad_h * o * (one - tc * tc) + grad_c
    return (dc * g * i * (one - i), dc * c * f * (one - f), dc * i * (one - g * g),
            grad_h * tc * o * (one - o), dc * f)
