"""The per-row maths of the cross-entropy kernels, written once for kernels.cpu and kernels.cuda.

Row i of logits x (C classes) with target t, class weights w (all 1 without weights), W = sum(w), label
smoothing eps, m = max(x) and l = log(sum(exp(x - m))), so that logsumexp(x) = m + l:
- loss_i = (1 - eps) w_t (m - x_t + l) + eps / C * (W l + sum_c w_c (m - x_c))
  (the second term is eps / C * sum_c w_c * -log_softmax(x)_c, PyTorch's label smoothing);
- d loss_i / d x_c = a p_c - b w_c - [c == t] h, p_c = exp(x_c - m - l), with a = g (h' + eps W / C),
  b = g eps / C, h = g h', h' = (1 - eps) w_t, for the row's upstream gradient g.
x - m is formed before l is subtracted (never x - (m + l)): for logits of 1e4 in float32, m + l rounds to
a multiple of 1e-3. An ignored row (t == ignore_index) has loss 0 and gradient 0; a target outside
[0, C) gives NaN (the callers check targets first; the kernels never read outside the row).
Scalars arrive in the arrays' dtype, so a float32 CUDA kernel never computes in float64.
"""


def target_weight(t, w, has_weight, one):
    """The row's class weight w_t (one without class weights)."""
    return w[t] if has_weight else one


def row_loss(nll, smooth, w_t, one_minus_eps, eps_over_c):
    """The row's loss from nll = m - x_t + l and smooth = W l + sum_c w_c (m - x_c)."""
    return one_minus_eps * w_t * nll + eps_over_c * smooth


def grad_coefficients(g, w_t, w_sum, one_minus_eps, eps_over_c):
    """(a, b, h): the row's gradient is a p_c - b w_c, minus h at the target class."""
    h = g * (one_minus_eps * w_t)
    return g * (one_minus_eps * w_t + eps_over_c * w_sum), g * eps_over_c, h
