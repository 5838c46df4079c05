"""Normalize: the one Op behind batch_norm, instance_norm, layer_norm and group_norm.

All four norms are "standardise x over some axes of a reshaped view, then scale and shift per
parameter element"; the Op runs the kernels' normalize_forward/backward (kernels/_normalize.py, whose
formulas backward_graph restates on Tensors; batch norm's layout runs in Numba loops on the CPU).
Running statistics (batch_norm, instance_norm) are updated in place inside the forward, from the
batch statistics it computes anyway, with the unbiased variance, as PyTorch does.
"""
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import saved
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t


class Normalize(Op):
    """y = (x - mean) * invstd * weight + bias, statistics over `axes` of x viewed as `view_shape`.

    fixed: None (batch statistics, differentiated through) or (mean, var) arrays used as constants.
    running: None or (running_mean, running_var, momentum) arrays updated in place from the batch stats.
    """
    _backward_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, view_shape, axes, param_shape, eps, fixed, running):
        K = ctx.device.K
        xv = x.reshape(view_shape)
        y, mean, var, invstd = K.normalize_forward(xv, w, b, axes, param_shape, eps, fixed)
        if running is not None:
            _update_running(ctx.device.xp, running, mean, var, xv.size // max(mean.size, 1))
        ctx.save_for_backward(x, mean, invstd, w)  # the input, not xhat: one array fewer per call
        ctx.eps = eps
        ctx.consts = (view_shape, axes, param_shape, None if b is None else b.shape, fixed is None)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, mean, invstd, w = ctx.saved_tensors
        view_shape, axes, param_shape, b_shape, batch_stats = ctx.consts
        needs = tuple(ctx.needs_input_grad[:3])
        xv = x.reshape(view_shape)
        gx, gw, gb = ctx.device.K.normalize_backward(g.reshape(xv.shape), xv, mean, invstd, w, axes,
                                                     param_shape, batch_stats, needs)
        return (None if gx is None else gx.reshape(x.shape), None if gw is None else gw.reshape(w.shape),
                None if gb is None else gb.reshape(b_shape), None, None, None, None, None, None)

    @staticmethod
    def backward_graph(ctx, g):
        """backward's formulas on Tensors, the batch statistics recomputed from the saved input (so the
        graph runs through them); given statistics are constants."""
        x, mean, invstd, w = saved(ctx)
        view_shape, axes, param_shape, b_shape, batch_stats = ctx.consts
        nx, nw, nb = ctx.needs_input_grad[:3]
        xv = x.reshape(view_shape)
        if batch_stats:
            xc = xv - xv.mean(axes, keepdim=True)
            inv = ((xc * xc).mean(axes, keepdim=True) + ctx.eps).rsqrt()
        else:
            xc, inv = xv - mean, invstd
        xh = xc * inv
        g = g.reshape(xv.shape)
        gx = gw = gb = None
        if nw:
            gw = unbroadcast_t(g * xh, param_shape).reshape(w.shape)
        if nb:
            gb = unbroadcast_t(g, param_shape).reshape(b_shape)
        if nx:
            gh = g * w.reshape(param_shape) if w is not None else g
            if batch_stats:
                gx = inv * (gh - gh.mean(axes, keepdim=True) - xh * (gh * xh).mean(axes, keepdim=True))
            else:
                gx = gh * inv
            gx = gx.reshape(x.shape)
        return gx, gw, gb, None, None, None, None, None, None


def _update_running(xp, running, mean, var, count):
    """running <- (1 - momentum) * running + momentum * batch stat (unbiased var), averaged over instances."""
    rm, rv, momentum = running
    if rm is not None:
        c = rm.size
        rm *= 1 - momentum
        rm += (momentum * mean.reshape(-1, c).mean(axis=0)).astype(rm.dtype, copy=False)
    if rv is not None:
        unbiased = var.reshape(-1, rv.size).mean(axis=0) * (count / max(count - 1, 1))
        rv *= 1 - momentum
        rv += (momentum * unbiased).astype(rv.dtype, copy=False)
