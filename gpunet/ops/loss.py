"""Loss Ops: regression (mse, l1, smooth_l1, huber), binary cross entropy (on probabilities and on
logits) and KL divergence; cross entropy and nll are in ops/nll.py.

Each Op computes the per-element loss and its reduction ('mean' | 'sum' | 'none') together and only
forms the derivatives that backward will need. nn.functional checks the arguments and calls them.
"""
import numpy as np

from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops.activation import LogSigmoid
from gpunet.ops._util import unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t


def _reduce(K, loss, reduction):
    """The elementwise loss reduced as asked, through K.sum (kernels/cpu/reduce.py: large float32 losses
    on the threads)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return K.sum(loss)
    if loss.size == 0:
        return K.xp.full((), K.xp.nan, dtype=loss.dtype)
    return K.sum(loss) / loss.dtype.type(loss.size)


def _grad_scale(g, reduction, size):
    """The upstream gradient per loss element: g itself ('none', 'sum') or g / numel ('mean')."""
    return g / size if reduction == "mean" and size else g


class Regression(Op):
    """mse, l1, smooth_l1 (param = beta) and huber (param = delta) losses of d = input - target."""
    _backward_name = "MseLossBackward0"

    @staticmethod
    def forward(ctx, x, t, kind, param, reduction):
        K = ctx.device.K
        ctx.kind = kind
        # mse, smooth_l1 and huber save the inputs (as PyTorch's: backward forms the derivative from them in
        # one pass, backward_graph differentiates them); l1 saves sign(x - t) (a derived value, as PyTorch's:
        # the inputs may change in place after)
        if kind == "l1":
            ctx.save_for_backward(K.error_gradient(x, t, 1, kind) if any(ctx.needs_input_grad) else None)
        else:
            ctx.save_for_backward(x, t)
        if reduction != "none" and x.shape == t.shape and x.size:
            ctx.consts = (x.shape, t.shape, reduction, param, x.size)
            total = K.error_sum(x, t, kind, param)  # one pass, no elementwise loss array
            return total if reduction == "sum" else total / x.dtype.type(x.size)
        d = K.sub(x, t)
        if kind in ("mse", "l1"):
            loss = K.square(d) if kind == "mse" else K.abs(d)
        else:  # one pass for each element's loss (and derivative, unused) (kernels/cpu/regression.py)
            loss = getattr(K, kind)(d, param)[0]
        ctx.consts = (x.shape, t.shape, reduction, param, loss.size)
        return _reduce(K, loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x_shape, t_shape, reduction, param, n = ctx.consts
        K = ctx.device.K
        c = _grad_scale(g, reduction, n)
        if ctx.kind == "l1":  # sign(x - t) times g / n for the mean
            gd = K.mul(ctx.saved_tensors[0], c)
        else:  # (mse: 2 (x - t)) times g / n for the mean, in one pass
            x, t = ctx.saved_tensors
            two = 2 if ctx.kind == "mse" else 1
            if g.ndim == 0:
                gd = K.error_gradient(x, t, two * c, ctx.kind, param)
            else:  # reduction="none"
                gd = K.mul(K.error_gradient(x, t, two, ctx.kind, param), g)
        nx, nt = ctx.needs_input_grad[:2]
        return (unbroadcast(gd, x_shape) if nx else None, unbroadcast(K.neg(gd), t_shape) if nt else None,
                None, None, None)

    @staticmethod
    def backward_graph(ctx, g):
        x_shape, t_shape, reduction, param, n = ctx.consts
        if ctx.kind == "mse":
            x, t = saved(ctx)
            deriv = 2 * (x - t)
        elif ctx.kind == "l1":
            deriv = const(ctx, ctx.saved_tensors[0])  # sign(x - t): constant
        else:  # d / beta (smooth_l1) or d (huber) where |d| < param, a constant outside
            x, t = saved(ctx)
            inside = const(ctx, abs(x._data - t._data) < param, g._data.dtype)
            d = (x - t) / param if ctx.kind == "smooth_l1" else x - t
            outside = const(ctx, ctx.device.K.error_gradient(x._data, t._data, 1, ctx.kind, param))
            deriv = inside * d + (1 - inside) * outside
        gd = deriv * _grad_scale(g, reduction, n)
        nx, nt = ctx.needs_input_grad[:2]
        return (unbroadcast_t(gd, x_shape) if nx else None, unbroadcast_t(-gd, t_shape) if nt else None,
                None, None, None)


class BinaryCrossEntropy(Op):
    """-w * (t * log(x) + (1 - t) * log(1 - x)), each log clamped at -100 as PyTorch does."""
    _backward_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, w, reduction):
        xp = ctx.device.xp
        with np.errstate(divide="ignore"):
            lx = xp.maximum(xp.log(x), -100)
            l1x = xp.maximum(xp.log1p(-x), -100)
        raw = -(t * lx + (1 - t) * l1x)
        loss = raw * w if w is not None else raw
        nx, nt, nw = ctx.needs_input_grad[:3]
        # x and t always (references; backward_graph differentiates them), the derived arrays when needed
        ctx.save_for_backward(x, t, w, (l1x - lx) if nt else None, raw if nw else None)
        ctx.consts = (x.shape, t.shape, None if w is None else w.shape, reduction, loss.size)
        return _reduce(ctx.device.K, loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, w, dt, raw = ctx.saved_tensors
        x_shape, t_shape, w_shape, reduction, n = ctx.consts
        xp = ctx.device.xp
        nx, nt, nw = ctx.needs_input_grad[:3]
        gs = _grad_scale(g, reduction, n)
        gw_ = gs * w if w is not None else gs
        gx = gt = gw = None
        if nx:
            d = (x - t) / xp.maximum((1 - x) * x, 1e-12)
            gx = unbroadcast(xp.broadcast_to(gw_ * d, x_shape), x_shape)
        if nt:
            gt = unbroadcast(xp.broadcast_to(gw_ * dt, t_shape), t_shape)
        if nw:
            gw = unbroadcast(gs * raw, w_shape)
        return gx, gt, gw, None

    @staticmethod
    def backward_graph(ctx, g):
        x, t, w, _, _ = saved(ctx)
        x_shape, t_shape, w_shape, reduction, n = ctx.consts
        nx, nt, nw = ctx.needs_input_grad[:3]
        gs = _grad_scale(g, reduction, n)
        gw_ = gs * w if w is not None else gs
        lx, l1x = x.log().clamp(min=-100), (-x).log1p().clamp(min=-100)
        return (_sum_to(gw_ * (x - t) / ((1 - x) * x).clamp(min=1e-12), x_shape) if nx else None,
                _sum_to(gw_ * (l1x - lx), t_shape) if nt else None,
                _sum_to(gs * -(t * lx + (1 - t) * l1x), w_shape) if nw else None, None)


def _sum_to(g, shape):
    """A gradient Tensor brought to an input's shape: expanded where the input was broadcast against
    larger operands it does not span, summed where it spans fewer."""
    full = np.broadcast_shapes(g._data.shape, tuple(shape))
    return unbroadcast_t(g if full == g._data.shape else g.expand(full), shape)


class BinaryCrossEntropyWithLogits(Op):
    """(1 - t) x + lw * softplus(-x), lw = 1 + (pos_weight - 1) t; softplus written without overflow."""
    _backward_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        sp = -ctx.device.K.log_sigmoid(x)  # softplus(-x) = log(1 + exp(-x)), without overflow
        lw = 1 + (pw - 1) * t if pw is not None else None
        raw = (1 - t) * x + (lw * sp if lw is not None else sp)
        loss = raw * w if w is not None else raw
        ctx.save_for_backward(x, t, w, pw, sp, lw, raw if ctx.needs_input_grad[2] else None)
        ctx.consts = tuple(None if a is None else a.shape for a in (x, t, w, pw)) + (reduction, loss.size)
        return _reduce(ctx.device.K, loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, w, pw, sp, lw, raw = ctx.saved_tensors
        x_shape, t_shape, w_shape, pw_shape, reduction, n = ctx.consts
        xp = ctx.device.xp
        nx, nt, nw, npw = ctx.needs_input_grad[:4]
        gs = _grad_scale(g, reduction, n)
        gw_ = gs * w if w is not None else gs
        grads = [None, None, None, None]
        if nx:
            e = xp.exp(-abs(x))
            sig_neg = ctx.device.K.where(x >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
            d = (1 - t) - (lw * sig_neg if lw is not None else sig_neg)
            grads[0] = unbroadcast(xp.broadcast_to(gw_ * d, x_shape), x_shape)
        if nt:
            d = -x + ((pw - 1) * sp if pw is not None else 0)
            grads[1] = unbroadcast(xp.broadcast_to(gw_ * d, t_shape), t_shape)
        if nw:
            grads[2] = unbroadcast(gs * raw, w_shape)
        if npw:
            grads[3] = unbroadcast(gw_ * t * sp, pw_shape)
        return (*grads, None)

    @staticmethod
    def backward_graph(ctx, g):
        x, t, w, pw = saved(ctx)[:4]
        x_shape, t_shape, w_shape, pw_shape, reduction, n = ctx.consts
        nx, nt, nw, npw = ctx.needs_input_grad[:4]
        gs = _grad_scale(g, reduction, n)
        gw_ = gs * w if w is not None else gs
        sp = -LogSigmoid.apply(x)  # softplus(-x), differentiable
        lw = 1 + (pw - 1) * t if pw is not None else 1
        grads = [None, None, None, None]
        if nx:
            grads[0] = _sum_to(gw_ * ((1 - t) - lw * (-x).sigmoid()), x_shape)
        if nt:
            grads[1] = _sum_to(gw_ * (-x + (pw - 1) * sp if pw is not None else -x), t_shape)
        if nw:
            grads[2] = _sum_to(gs * ((1 - t) * x + lw * sp), w_shape)
        if npw:
            grads[3] = _sum_to(gw_ * t * sp, pw_shape)
        return (*grads, None)


class KLDiv(Op):
    """target * (log(target) - input) (0 where target == 0), or exp(t) * (t - input) with log_target."""
    _backward_name = "KlDivBackward0"

    @staticmethod
    def forward(ctx, x, t, log_target, reduction):
        xp = ctx.device.xp
        nt = ctx.needs_input_grad[1]
        # (x, t) as references when t needs a gradient: backward_graph differentiates the target's gradient
        inputs = (x, t) if nt else (None, None)
        if log_target:
            et = xp.exp(t)
            loss = et * (t - x)
            ctx.save_for_backward(et, loss if nt else None, *inputs)
        else:
            pos = t > 0
            where = ctx.device.K.where
            logt = xp.log(where(pos, t, 1))
            loss = where(pos, t * logt, 0) - t * x
            ctx.save_for_backward(t, where(pos, logt + 1 - x, 0) if nt else None, *inputs)
        ctx.consts = (x.shape, t.shape, log_target, reduction, loss.size)
        return _reduce(ctx.device.K, loss, "sum" if reduction == "batchmean" else reduction) / (
            x.dtype.type(x.shape[0]) if reduction == "batchmean" and x.ndim else 1)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors[:2]
        x_shape, t_shape, log_target, reduction, n = ctx.consts
        xp = ctx.device.xp
        gs = _kl_grad_scale(g, x_shape, reduction, n)
        nx, nt = ctx.needs_input_grad[:2]
        gx = unbroadcast(xp.broadcast_to(-a * gs, x_shape), x_shape) if nx else None
        gt = None
        if nt:
            d = b + a if log_target else b  # d/dt exp(t)(t - x) = exp(t)(t - x) + exp(t)
            gt = unbroadcast(xp.broadcast_to(d * gs, t_shape), t_shape)
        return gx, gt, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, _, x, t = saved(ctx)
        x_shape, t_shape, log_target, reduction, n = ctx.consts
        nx, nt = ctx.needs_input_grad[:2]
        gs = _kl_grad_scale(g, x_shape, reduction, n)
        if log_target:
            et = t.exp() if nt else a  # a = exp(t): a constant unless t needs a gradient
            gx = -et * gs if nx else None
            gt = et * (t - x + 1) * gs if nt else None
        else:  # a is the target Tensor itself
            gx = -a * gs if nx else None
            gt = None
            if nt:
                pos = const(ctx, t._data > 0, g._data.dtype)
                gt = pos * ((t * pos + (1 - pos)).log() + 1 - x) * gs
        return (_sum_to(gx, x_shape) if nx else None, _sum_to(gt, t_shape) if nt else None, None, None)


def _kl_grad_scale(g, x_shape, reduction, n):
    if reduction == "batchmean":
        return g / x_shape[0] if len(x_shape) else g
    return _grad_scale(g, reduction, n)
