"""Standardise over some axes, then scale and shift per parameter element: the array maths behind
batch_norm, instance_norm, layer_norm and group_norm, written once on ``xp`` (NumPy or CuPy):

    xhat = (x - mean) * invstd,  y = xhat * weight + bias,  invstd = 1 / sqrt(var + eps)
    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * weight

(the last two terms only when the statistics are the batch's, not given constants). kernels.cpu runs
batch norm's layout, (N, C, L) with statistics over axes (0, 2), in a Numba loop instead.
"""


def _sum_to(xp, a, param_shape):
    """a summed over the axes where param_shape is 1 (kept as size-1 axes)."""
    axes = tuple(i for i, s in enumerate(param_shape) if s == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


def normalize_forward(xp, xv, weight, bias, axes, param_shape, eps, fixed):
    """(y, mean, var, invstd): xv standardised over axes (mean and biased var kept as size-1 axes), scaled
    by weight and shifted by bias (each None or of param_shape's size). fixed: None (the batch's
    statistics) or given (mean, var) arrays broadcastable to the statistics' shape; the mean returned is
    then a copy, for backward to use whatever happens to the given arrays meanwhile."""
    if fixed is None:
        mean = xv.mean(axis=axes, keepdims=True)
        xhat = xv - mean
        var = (xhat * xhat).mean(axis=axes, keepdims=True)
    else:
        mean, var = xp.array(fixed[0], copy=True), fixed[1]
        xhat = xv - mean
    invstd = 1 / xp.sqrt(var + eps)
    xhat *= invstd
    if weight is not None:
        y = xhat * weight.reshape(param_shape)
        if bias is not None:
            y += bias.reshape(param_shape)
    else:
        y = xhat + bias.reshape(param_shape) if bias is not None else xhat
    return y, mean, var, invstd


def normalize_backward(xp, g, xv, mean, invstd, weight, axes, param_shape, batch_stats, needs):
    """(grad_x, grad_weight, grad_bias) from the grad g of y (xv's shape), with xhat recomputed from the
    input xv and forward's mean and invstd (as PyTorch, the input is kept rather than xhat); the
    parameter gradients in param_shape; None where needs (x, weight, bias) is False."""
    need_x, need_w, need_b = needs
    xhat = (xv - mean) * invstd
    gx = gw = gb = None
    if need_w:
        gw = _sum_to(xp, g * xhat, param_shape)
    if need_b:
        gb = _sum_to(xp, g, param_shape)
    if need_x:
        gh = g * weight.reshape(param_shape) if weight is not None else g
        if batch_stats:
            gx = gh - gh.mean(axis=axes, keepdims=True)
            gx -= xhat * (gh * xhat).mean(axis=axes, keepdims=True)
            gx *= invstd
        else:
            gx = gh * invstd
    return gx, gw, gb
