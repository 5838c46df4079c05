"""L-BFGS with an optional strong-Wolfe line search (torch.optim.LBFGS).

The algorithm works on the concatenation of all params (one flat vector x) with array math from the
params' ``xp``; there is no fused kernel for it. Each ``step(closure)`` runs up to ``max_iter``
iterations:

    d = -H g  (two-loop recursion over the last ``history_size`` pairs s = x_{k+1} - x_k,
              y = g_{k+1} - g_k kept when y.s > 1e-10; H_0 = (y.s / y.y) I)
    t = min(1, 1/|g|_1) * lr at the very first iteration, else lr
    x += t d  (fixed step), or t from the strong-Wolfe search (c1=1e-4, c2=0.9, cubic interpolation,
              at most 25 evaluations; bracketing then zoom, after minFunc by M. Schmidt, as PyTorch)

and stops at max_iter, max_eval closure calls, |g|_inf <= tolerance_grad, |t d|_inf <= tolerance_change
or |f_k - f_{k-1}| < tolerance_change. Scalars (step sizes, dot products) are Python floats.
"""
import math

from gpunet.autograd.grad_mode import enable_grad
from gpunet.backend import array_device
from gpunet.optim._fused import _scalar, check_lr
from gpunet.optim.optimizer import Optimizer
from gpunet.tensor import Tensor, _make

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    """L-BFGS, as torch.optim.LBFGS: one param group, closure required, memory ~ (2*history_size + 3) * n.

    State (under the first param, as PyTorch): func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag,
    prev_flat_grad, prev_loss, al. ro, al and H_diag are floats, PyTorch keeps 0-d tensors.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def __setstate__(self, state):
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]

    # ---- flat views of the params -------------------------------------------------------------------
    def _xp(self):
        device = self._params[0]._device
        if any(p._device is not device for p in self._params):
            raise RuntimeError("LBFGS: all parameters must be on one device, got "
                               f"{sorted({str(p.device) for p in self._params})}")
        return device.xp

    def _flat_grad(self):
        xp = self._xp()
        parts = [xp.zeros(p._data.size, p._data.dtype) if p._grad is None else p._grad._data.reshape(-1)
                 for p in self._params]
        return xp.concatenate(parts)

    def _add(self, t, d):
        """x += t * d, param by param."""
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += (t * d[offset:offset + n]).reshape(p._data.shape).astype(p._data.dtype, copy=False)
            p._vc[0] += 1
            offset += n

    def _set(self, arrays):
        for p, a in zip(self._params, arrays):
            p._data[...] = a
            p._vc[0] += 1

    def _evaluate(self, closure, x, t, d):
        """(f, g) at x + t d; the params are put back to x afterwards."""
        self._add(t, d)
        with enable_grad():
            loss = float(closure())
        g = self._flat_grad()
        self._set(x)
        return loss, g

    # ---- the step -----------------------------------------------------------------------------------
    def step(self, closure):
        """Run up to max_iter L-BFGS iterations; ``closure`` (required) clears the grads, computes the
        loss, calls backward and returns the loss. Returns the loss of the first evaluation."""
        if closure is None:
            raise RuntimeError("LBFGS requires a closure: step(closure) where closure() re-evaluates the "
                               "model and returns the loss")
        group = self.param_groups[0]
        lr = _scalar(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")
        xp = self._xp()

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if _num(xp.abs(g).max()) <= tol_grad:
            return orig_loss

        d = _arr(state.get("d"))
        t = state.get("t")
        old_dirs = [_arr(v) for v in state.get("old_dirs", [])]
        old_stps = [_arr(v) for v in state.get("old_stps", [])]
        ro = [float(v) for v in state.get("ro", [])]
        h_diag = state.get("H_diag")
        h_diag = None if h_diag is None else float(h_diag)
        prev_g = _arr(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                y = g - prev_g
                s = d * t
                ys = _num(xp.dot(y, s))
                if ys > 1e-10:  # keep the pair only when it gives a positive-definite update
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _num(xp.dot(y, y))
                d = self._two_loop(state, -g, old_dirs, old_stps, ro, h_diag, history_size)

            prev_g = g.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / _num(xp.abs(g).sum())) * lr
            else:
                t = lr
            gtd = _num(xp.dot(g, d))
            if gtd > -tol_change:  # not a descent direction
                break

            if line_search_fn is not None:
                x0 = [p._data.copy() for p in self._params]
                # PyTorch's search uses its own tolerance_change=1e-9, not the group's: kept for equal numbers
                def evaluate(tt, x0=x0, d=d):
                    return self._evaluate(closure, x0, tt, d)

                loss, g, t, ls_evals = _strong_wolfe(evaluate, xp, t, d, loss, g, gtd, 1e-9)
                self._add(t, d)
                opt_cond = _num(xp.abs(g).max()) <= tol_grad
            else:
                self._add(t, d)
                ls_evals = 0
                opt_cond = False
                if n_iter != max_iter:  # re-evaluate unless this was the last iteration
                    with enable_grad():
                        loss = float(closure())
                    g = self._flat_grad()
                    opt_cond = _num(xp.abs(g).max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if _num(xp.abs(d * t).max()) <= tol_change or abs(loss - prev_loss) < tol_change:
                break

        device = self._params[0]._device
        state["d"] = _make(d, device)
        state["t"] = t
        state["old_dirs"] = [_make(v, device) for v in old_dirs]
        state["old_stps"] = [_make(v, device) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = _make(prev_g, device)
        state["prev_loss"] = prev_loss
        return orig_loss

    @staticmethod
    def _two_loop(state, q, old_dirs, old_stps, ro, h_diag, history_size):
        """-H g by the L-BFGS two-loop recursion, q = -g on entry (updated in place)."""
        al = state.get("al")
        if al is None or len(al) < history_size:
            al = state["al"] = (list(al) if al else []) + [None] * (history_size - len(al or []))
        k = len(old_dirs)
        for i in range(k - 1, -1, -1):
            al[i] = _num(old_stps[i].dot(q)) * ro[i]
            q -= al[i] * old_dirs[i]
        r = q * h_diag
        for i in range(k):
            beta = _num(old_dirs[i].dot(r)) * ro[i]
            r += (al[i] - beta) * old_stps[i]
        return r


def _arr(value):
    return value._data if isinstance(value, Tensor) else value


def _num(a):
    """A device scalar as a Python float: L-BFGS decides on the host (as PyTorch's does), a sync each."""
    return float(array_device(a).backend.to_host(a))


def _cubic_min(x1, f1, g1, x2, f2, g2, lo=None, hi=None):
    """Minimiser of the cubic through (x1, f1, f'=g1) and (x2, f2, g2), clipped to [lo, hi] (default: the
    interval between x1 and x2); the midpoint of [lo, hi] when the cubic has no minimum."""
    if lo is None:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, xp, t, d, f0, g0, gtd0, tol_change, c1=1e-4, c2=0.9, max_ls=25):
    """Line search along d from (f0, g0) for t satisfying the strong Wolfe conditions
    f(t) <= f0 + c1 t g0.d and |g(t).d| <= c2 |g0.d|. Returns (f, g, t, evaluations)."""
    d_norm = _num(xp.abs(d).max())
    f, g = evaluate(t)
    evals = 1
    gtd = _num(xp.dot(g, d))
    prev = (0.0, f0, g0, gtd0)  # (t, f, g, g.d) at the previous trial
    bracket = None  # two (t, f, g, g.d) points around a minimiser, or one point that satisfies the conditions
    it = 0
    # bracketing: grow t until the conditions hold or an interval containing a good point is found
    while it < max_ls:
        if f > f0 + c1 * t * gtd0 or (it > 1 and f >= prev[1]):
            bracket = [prev, (t, f, g, gtd)]
            break
        if abs(gtd) <= -c2 * gtd0:
            return f, g, t, evals
        if gtd >= 0:
            bracket = [prev, (t, f, g, gtd)]
            break
        t_next = _cubic_min(prev[0], prev[1], prev[3], t, f, gtd, lo=t + 0.01 * (t - prev[0]), hi=t * 10)
        prev = (t, f, g, gtd)
        t = t_next
        f, g = evaluate(t)
        evals += 1
        gtd = _num(xp.dot(g, d))
        it += 1
    if bracket is None:  # out of evaluations while still going downhill
        bracket = [(0.0, f0, g0, gtd0), (t, f, g, gtd)]

    # zoom: shrink the bracket by cubic interpolation, keeping low = the point with the lower f
    insufficient = False
    low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
    while it < max_ls:
        t_a, t_b = bracket[0][0], bracket[1][0]
        if abs(t_b - t_a) * d_norm < tol_change:
            break
        t = _cubic_min(t_a, bracket[0][1], bracket[0][3], t_b, bracket[1][1], bracket[1][3])
        top, bottom = max(t_a, t_b), min(t_a, t_b)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too close to an end: move it inside unless progress was made
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f, g = evaluate(t)
        evals += 1
        gtd = _num(xp.dot(g, d))
        it += 1
        if f > f0 + c1 * t * gtd0 or f >= bracket[low][1]:
            bracket[high] = (t, f, g, gtd)
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd) <= -c2 * gtd0:
                bracket[low] = (t, f, g, gtd)
                break
            if gtd * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = (t, f, g, gtd)
    t, f, g, _ = bracket[low]
    return f, g, t, evals
