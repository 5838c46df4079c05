"""The public fused-optimizer functions, written once for kernels.cpu and kernels.cuda.

``Steps(backend)`` holds the eight ``<algo>_step`` functions as methods bound to a backend module
(kernels/cpu/optim.py, kernels/cuda/optim.py). The module provides ``_check(op, arrays, needed)``
(validation before anything is touched), ``_run(loop, arrays, scalars)`` (one pass over the arrays),
``_state(array_or_None, like)`` (an empty placeholder for an unused state slot) and one fused loop per
algorithm (``_sgd``, ``_adam``, ...), and publishes its instance's methods under their own names
(``sgd_step = _steps.sgd_step``). So both tables share names, signatures, docstrings and validation by
construction; the per-element maths is shared too (kernels/_optim_math.py), and only the loops differ.

Every step takes ``grad`` either as one array of the param's length or as a list of 1-D arrays (segments)
whose lengths add up to it: the grads of several params whose data lie back to back in ``param`` (a param
group kept in one flat buffer). The CPU reads the segments where they are; CUDA gathers them first.
"""
from kernels import _optim_scalars as S


class Steps:
    """The public ``<algo>_step`` functions of one backend module, as methods bound to it."""

    def __init__(self, backend):
        self._backend = backend
        self._check, self._run, self._state = backend._check, backend._run, backend._state

    def __repr__(self):
        return f"Steps({self._backend.__name__})"

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
                 maximize, first_step):
        """SGD: g += wd*p; b = g on the first step, else momentum*b + (1-dampening)*g; g = g + momentum*b
        (nesterov) or b; p -= lr*g. maximize negates the gradient first. momentum_buffer: None if
        momentum == 0."""
        self._check("sgd_step", {"param": param, "grad": grad, "momentum_buffer": momentum_buffer},
                    {"momentum_buffer": "momentum != 0"} if momentum != 0 else {})
        self._run(self._backend._sgd, (param, grad, self._state(momentum_buffer, param)),
                  S.sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, first_step))

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                  decoupled_weight_decay, amsgrad, maximize, step):
        """Adam (AdamW when decoupled_weight_decay) at 1-based step: p *= 1 - lr*wd (decoupled) or
        g += wd*p; m, v moving averages; v_max = max(v_max, v) if amsgrad;
        p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps), bc_k = 1 - beta_k**step. max_exp_avg_sq: None unless
        amsgrad."""
        needed = {"exp_avg": "", "exp_avg_sq": ""}
        if amsgrad:
            needed["max_exp_avg_sq"] = "amsgrad=True"
        self._check("adam_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                                  "max_exp_avg_sq": max_exp_avg_sq}, needed)
        self._run(self._backend._adam, (param, grad, exp_avg, exp_avg_sq, self._state(max_exp_avg_sq, param)),
                  S.adam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize,
                         step))

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                     momentum, centered, maximize):
        """RMSprop: v = alpha*v + (1-alpha)*g^2; centered: g_avg moving average and v~ = v - g_avg^2;
        d = sqrt(v~) + eps (eps outside the sqrt); momentum > 0: b = momentum*b + g/d, p -= lr*b; else
        p -= lr*g/d. grad_avg: None unless centered; momentum_buffer: None unless momentum > 0."""
        needed = {"square_avg": ""}
        if centered:
            needed["grad_avg"] = "centered=True"
        if momentum > 0:
            needed["momentum_buffer"] = "momentum > 0"
        self._check("rmsprop_step", {"param": param, "grad": grad, "square_avg": square_avg,
                                     "grad_avg": grad_avg, "momentum_buffer": momentum_buffer}, needed)
        self._run(self._backend._rmsprop, (param, grad, square_avg, self._state(grad_avg, param),
                                           self._state(momentum_buffer, param)),
                  S.rmsprop(lr, alpha, eps, weight_decay, momentum, centered, maximize))

    def adagrad_step(self, param, grad, state_sum, lr, lr_decay, weight_decay, eps, maximize, step):
        """Adagrad at 1-based step: clr = lr / (1 + (step-1)*lr_decay); g += wd*p; s += g^2;
        p -= clr * g / (sqrt(s) + eps)."""
        self._check("adagrad_step", {"param": param, "grad": grad, "state_sum": state_sum},
                    {"state_sum": ""})
        self._run(self._backend._adagrad, (param, grad, state_sum),
                  S.adagrad(lr, lr_decay, weight_decay, eps, maximize, step))

    def adadelta_step(self, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
        """Adadelta: g += wd*p; v = rho*v + (1-rho)*g^2; dx = sqrt(u + eps)/sqrt(v + eps) * g;
        u = rho*u + (1-rho)*dx^2; p -= lr*dx."""
        self._check("adadelta_step", {"param": param, "grad": grad, "square_avg": square_avg,
                                      "acc_delta": acc_delta}, {"square_avg": "", "acc_delta": ""})
        self._run(self._backend._adadelta, (param, grad, square_avg, acc_delta),
                  S.adadelta(lr, rho, eps, weight_decay, maximize))

    def adamax_step(self, param, grad, exp_avg, exp_inf, lr, beta1, beta2, eps, weight_decay, maximize, step):
        """Adamax at 1-based step: g += wd*p; m moving average; u = max(beta2*u, |g| + eps);
        p -= lr/(1 - beta1**step) * m / u."""
        self._check("adamax_step", {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_inf": exp_inf},
                    {"exp_avg": "", "exp_inf": ""})
        self._run(self._backend._adamax, (param, grad, exp_avg, exp_inf),
                  S.adamax(lr, beta1, beta2, eps, weight_decay, maximize, step))

    def nadam_step(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                   decoupled_weight_decay, maximize, mu, mu_next, mu_product, mu_product_next, step):
        """NAdam (NAdamW when decoupled_weight_decay) at 1-based step, with the caller's momentum schedule
        mu = mu_t = beta1*(1 - 0.5*0.96**(t*momentum_decay)), mu_next = mu_{t+1},
        mu_product = mu_1*...*mu_t, mu_product_next = mu_product*mu_next: p *= 1 - lr*wd or g += wd*p;
        m, v moving averages; d = sqrt(v/(1 - beta2**step)) + eps; p -= lr*(1-mu)/(1-mu_product) * g/d;
        p -= lr*mu_next/(1-mu_product_next) * m/d."""
        self._check("nadam_step", {"param": param, "grad": grad, "exp_avg": exp_avg,
                                   "exp_avg_sq": exp_avg_sq}, {"exp_avg": "", "exp_avg_sq": ""})
        self._run(self._backend._nadam, (param, grad, exp_avg, exp_avg_sq),
                  S.nadam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, mu, mu_next,
                          mu_product, mu_product_next, step))

    def radam_step(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                   decoupled_weight_decay, maximize, step):
        """RAdam at 1-based step: p *= 1 - lr*wd or g += wd*p; m, v moving averages;
        m^ = m/(1 - beta1**step); if rho_t > 5: p -= lr * m^ * sqrt(1 - beta2**step)/(sqrt(v) + eps) * rect,
        else p -= lr * m^ (rho_t and rect: kernels._optim_scalars.radam)."""
        self._check("radam_step", {"param": param, "grad": grad, "exp_avg": exp_avg,
                                   "exp_avg_sq": exp_avg_sq}, {"exp_avg": "", "exp_avg_sq": ""})
        self._run(self._backend._radam, (param, grad, exp_avg, exp_avg_sq),
                  S.radam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, step))
