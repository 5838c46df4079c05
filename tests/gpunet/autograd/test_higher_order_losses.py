"""Higher-order gradients (create_graph=True) of the activations and losses whose backward is written on
arrays for speed: gelu, silu, mish, hardswish, binary cross entropy (on probabilities and on logits),
kl_div, smooth_l1/huber and cross_entropy (class indices on (N, C, d) logits, class probabilities).
gradgradcheck on cpu and the simulated cuda device; parity with PyTorch (float64) on the uses that need
them: second derivatives per op family, a MAML step on cross_entropy, a gelu MLP gradient penalty."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet import autograd
from gpunet.autograd import gradgradcheck

from tests.gpunet.autograd.test_higher_order import _copy_weights, _mlp
from tests.helpers import needs_torch, simulated


def _t(shape, device, seed=0, low=-1.0, high=1.0, grad=True):
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    return gpunet.tensor(values, dtype=gpunet.float64, device=device, requires_grad=grad)


def _probs(shape, device, seed, dim=1):
    return F.softmax(_t(shape, device, seed, -2, 2, grad=False), dim).requires_grad_(True)


def _ids(values, like):
    return gpunet.tensor(values, device=like.device)


# ---- gradgradcheck (float64 finite differences) on cpu and the simulated cuda device --------------------
ACTIVATIONS = {
    "gelu": lambda a: F.gelu(3 * a) * a,
    "gelu_tanh": lambda a: F.gelu(3 * a, approximate="tanh") * a,
    "silu": lambda a: F.silu(3 * a) * a,
    "silu_inplace": lambda a: F.silu(3 * a, inplace=True) * a,
    "mish": lambda a: F.mish(3 * a) * a,
    "mish_inplace": lambda a: F.mish(3 * a, inplace=True),
    "hardswish": lambda a: F.hardswish(4 * a) * a,  # 4 * a in [-4, 4]: all three pieces
    "hardswish_inplace": lambda a: F.hardswish(4 * a, inplace=True) * a,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradgradcheck_activation(name, device):
    assert gradgradcheck(ACTIVATIONS[name], [_t((2, 3), device)])


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradgradcheck_binary_cross_entropy(reduction, device):
    p, t = _t((2, 3), device, 0, 0.1, 0.9), _t((2, 3), device, 1, 0.1, 0.9)
    w = _t((3,), device, 2, 0.5, 2.0)
    assert gradgradcheck(lambda p, t, w: F.binary_cross_entropy(p, t, w, reduction=reduction), [p, t, w])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradgradcheck_binary_cross_entropy_with_logits(reduction, device):
    x, t = _t((2, 3), device, 0, -3, 3), _t((2, 3), device, 1, 0.1, 0.9)
    w, pw = _t((3,), device, 2, 0.5, 2.0), _t((3,), device, 3, 0.5, 2.0)
    assert gradgradcheck(lambda x, t, w, pw: F.binary_cross_entropy_with_logits(
        x, t, w, reduction=reduction, pos_weight=pw), [x, t, w, pw])
    assert gradgradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), [x, t])


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_gradgradcheck_kl_div(log_target, reduction, device):
    x = _t((2, 3), device, 0, -2, 0)
    t = _t((2, 3), device, 1, -2, 0) if log_target else _t((2, 3), device, 1, 0.1, 1.0)
    assert gradgradcheck(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target), [x, t])
    t_const = t.detach()  # only the input needs a gradient: forward keeps no reference to it
    assert gradgradcheck(lambda x: F.kl_div(x * x, t_const, reduction=reduction, log_target=log_target), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradgradcheck_smooth_l1_and_huber(reduction, device):
    x, t = _t((2, 3), device, 0), _t((2, 3), device, 1)  # 2 x - t: both sides of beta/delta = 0.7
    assert gradgradcheck(lambda x, t: F.smooth_l1_loss(2 * x, t, reduction=reduction, beta=0.7)
                         + F.huber_loss(2 * x, t, reduction=reduction, delta=0.7), [x, t])


CE_OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 1},
              {"label_smoothing": 0.2, "weight": True}, {"label_smoothing": 0.3, "reduction": "none",
                                                         "ignore_index": 0, "weight": True}]


# Cross entropy's kernels cost tens of ms per launch on the simulated device, and gradgradcheck launches
# them thousands of times: there one case each (the graph code is device-agnostic; the cpu runs them all).
_SIMULATED_ONE_CASE = "the simulated device runs one case (the graph code is device-agnostic)"


def _options(options, device):
    options = dict(options)  # the parameter is shared by the cpu and cuda runs
    if options.pop("weight", False):
        options["weight"] = _t((3,), device, seed=9, low=0.5, high=2.0, grad=False)
    return options


@pytest.mark.parametrize("options", CE_OPTIONS)
def test_gradgradcheck_cross_entropy_class_indices_nd(options, device):
    # (N, C, d) logits take ClassNLL (the fused kernels take (C,) and (N, C))
    if simulated(device) and options is not CE_OPTIONS[-1]:
        pytest.skip(_SIMULATED_ONE_CASE)
    x = _t((2, 3, 2), device)
    target = _ids([[0, 1], [2, 0]], x)
    options = _options(options, device)
    assert gradgradcheck(lambda x: F.cross_entropy(x, target, **options).tanh(), [x])


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 2)])
@pytest.mark.parametrize("options", [o for o in CE_OPTIONS if "ignore_index" not in o])
def test_gradgradcheck_cross_entropy_probabilities(options, shape, device):
    if simulated(device) and (shape != (2, 3) or options is not CE_OPTIONS[-2]):
        pytest.skip(_SIMULATED_ONE_CASE)
    x, p = _t(shape, device), _probs(shape, device, 1, dim=0 if len(shape) == 1 else 1)
    options = _options(options, device)
    assert gradgradcheck(lambda x, p: F.cross_entropy(x, p, **options).tanh(), [x, p])


# ---- saved values: references to the inputs, and the version check -------------------------------------
def test_inplace_change_of_a_saved_input_raises_at_backward():
    x = _t((2, 3), "cpu")
    h = x * 1
    y = F.gelu(h)
    h.add_(1)  # as PyTorch: gelu saves its input
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_ops_keeping_only_derived_values_do_not_raise_on_inplace_change():
    x, t = _t((2, 3), "cpu"), _t((2, 3), "cpu", 1, 0.1, 1.0, grad=False)
    for loss_fn in (lambda h: F.l1_loss(h, t), lambda h: F.kl_div(h, t, reduction="batchmean"),
                    lambda h: F.kl_div(h, t.log(), reduction="batchmean", log_target=True)):
        h = x * 1
        loss = loss_fn(h)
        h.add_(1)  # none of these keeps the input (as PyTorch's saved values)
        x.grad = None
        loss.backward()
        assert x.grad is not None


def test_silu_inplace_second_derivative_uses_the_values_before_the_write():
    x = _t((2, 3), "cpu")
    h = 2 * x
    y = F.silu(h, inplace=True)
    assert y is h
    (g,) = autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)
    s = 1 / (1 + np.exp(-2 * x.detach().numpy()))
    z = 2 * x.detach().numpy()
    np.testing.assert_allclose(gg.numpy(), 4 * s * (1 - s) * (2 + z * (1 - 2 * s)), rtol=1e-12)


# ---- parity with PyTorch (float64) -----------------------------------------------------------------------
def _close(ours, theirs, atol=1e-10, rtol=0):
    assert len(ours) == len(theirs)
    for u, v in zip(ours, theirs):
        np.testing.assert_allclose(u.detach().numpy(), v.detach().numpy(), rtol=rtol, atol=atol)


def _grad_norm_grad(lib, fn, arrays, needs):
    """d/d(inputs) sum over inputs of |d fn / d input|^2: a second derivative through every input."""
    inputs = [lib.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    leaves = [x for x in inputs if x.requires_grad]
    grads = lib.autograd.grad(fn(lib.nn.functional, *inputs), leaves, create_graph=True)
    return lib.autograd.grad(sum((g * g).sum() for g in grads), leaves)


def _parity(fn, arrays, needs=None, rtol=0):
    torch = needs_torch()
    needs = needs or [True] * len(arrays)
    _close(_grad_norm_grad(gpunet, fn, arrays, needs), _grad_norm_grad(torch, fn, arrays, needs), rtol=rtol)


def test_activations_second_derivatives_match_torch():
    x = np.random.default_rng(0).uniform(-5, 5, (4, 7))
    w = np.random.default_rng(1).normal(size=(4, 7))
    for act in (lambda F_, x: F_.gelu(x), lambda F_, x: F_.gelu(x, approximate="tanh"),
                lambda F_, x: F_.silu(x), lambda F_, x: F_.silu(x * 1, inplace=True),
                lambda F_, x: F_.mish(x), lambda F_, x: F_.hardswish(x)):
        _parity(lambda F_, x, w: (act(F_, x) * w).sum(), [x, w])


def test_binary_cross_entropy_second_derivatives_match_torch():
    rng = np.random.default_rng(2)
    p, t, x = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3)), rng.uniform(-4, 4, (4, 3))
    w, pw = rng.uniform(0.5, 2, (3,)), rng.uniform(0.5, 2, (3,))
    for reduction in REDUCTIONS:
        def bce(F_, p, t, w):
            return F_.binary_cross_entropy(p, t, w, reduction=reduction).sum()
        # PyTorch has no derivative for bce's weight; its double backward divides by (x + 1e-12)^2 (1 - x +
        # 1e-12)^2 where gpunet differentiates (x - t) / (x (1 - x)): a relative 1e-11 apart at x = 0.05
        _parity(bce, [p, t, w], [True, True, False], rtol=1e-10)

        def bce_logits(F_, x, t, w, pw):
            loss = F_.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw)
            return loss.sum()
        _parity(bce_logits, [x, t, w, pw], [True, True, False, False])  # PyTorch: none for w, pos_weight


def test_kl_div_smooth_l1_huber_second_derivatives_match_torch():
    rng = np.random.default_rng(3)
    x, t, lt = rng.uniform(-2, 0, (4, 3)), rng.uniform(0.1, 1, (4, 3)), rng.uniform(-2, 0, (4, 3))
    for reduction in ("batchmean", "sum", "none"):
        _parity(lambda F_, x, t: F_.kl_div(x, t, reduction=reduction).sum(), [x, t])
        _parity(lambda F_, x, t: F_.kl_div(x, t, reduction=reduction, log_target=True).sum(), [x, lt])
    a, b = rng.uniform(-2, 2, (4, 3)), rng.uniform(-2, 2, (4, 3))
    for reduction in REDUCTIONS:
        _parity(lambda F_, a, b: F_.smooth_l1_loss(a, b, reduction=reduction, beta=0.8).sum()
                + F_.huber_loss(a, b, reduction=reduction, delta=0.8).sum(), [a, b])


def test_cross_entropy_second_derivatives_match_torch():
    torch = needs_torch()
    rng = np.random.default_rng(4)
    x3, x2 = rng.normal(size=(3, 4, 2)), rng.normal(size=(5, 4))
    t3, t2 = rng.integers(0, 4, (3, 2)), rng.integers(0, 4, (5,))
    t3[0, 1] = t2[1] = 2  # ignored below
    p3 = np.exp(rng.normal(size=(3, 4, 2)))
    p3 /= p3.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2, (4,))
    for options in ({}, {"reduction": "sum"}, {"reduction": "none", "label_smoothing": 0.1},
                    {"weight": w, "ignore_index": 2, "label_smoothing": 0.2}):
        def ce(lib, x, t):
            kw = dict(options, weight=lib.tensor(w)) if "weight" in options else options
            return lambda F_, x: F_.cross_entropy(x, lib.tensor(t), **kw).sum()
        for x, t in ((x3, t3), (x2, t2)):
            _close(_grad_norm_grad(gpunet, ce(gpunet, x, t), [x], [True]),
                   _grad_norm_grad(torch, ce(torch, x, t), [x], [True]))
        kw = {k: v for k, v in options.items() if k != "ignore_index"}

        def soft(F_, x, p):
            lib = gpunet if F_ is gpunet.nn.functional else torch
            extra = dict(kw, weight=lib.tensor(w)) if "weight" in kw else kw
            return F_.cross_entropy(x, p, **extra).sum()
        _parity(soft, [x3, p3])


@pytest.mark.parametrize("act", ["relu", "silu"])
def test_maml_cross_entropy_inner_step_matches_torch(act):
    """MAML on a 3-way classification task: one inner SGD step on F.cross_entropy(logits, class indices)
    with create_graph=True, the outer cross_entropy on the query set backpropagated through it."""
    torch = needs_torch()
    make = (lambda nn: nn.ReLU()) if act == "relu" else (lambda nn: nn.SiLU())
    gpunet.manual_seed(0)
    ours, theirs = _mlp(gpunet.nn, [4, 16, 16, 3], make), _mlp(torch.nn, [4, 16, 16, 3], make)
    _copy_weights(ours, theirs, torch)
    rng = np.random.default_rng(5)
    xs, xq = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    ys, yq = rng.integers(0, 3, 6), rng.integers(0, 3, 6)
    results = []
    for lib, model in ((gpunet, ours), (torch, theirs)):
        F_ = lib.nn.functional
        params = list(model.parameters())
        actf = F_.relu if act == "relu" else F_.silu

        def forward(x, p):
            h = actf(F_.linear(x, p[0], p[1]))
            h = actf(F_.linear(h, p[2], p[3]))
            return F_.linear(h, p[4], p[5])
        fast = params
        for _ in range(2):  # two inner steps
            inner = F_.cross_entropy(forward(lib.tensor(xs), fast), lib.tensor(ys))
            grads = lib.autograd.grad(inner, fast, create_graph=True)
            fast = [p - 0.5 * g for p, g in zip(fast, grads)]
        outer = F_.cross_entropy(forward(lib.tensor(xq), fast), lib.tensor(yq), label_smoothing=0.1)
        outer.backward()
        results.append([p.grad for p in params] + [outer])
    _close(*results)


class _Block:
    """A Transformer feed-forward block: x + W2 gelu(W1 layer_norm(x)), built from nn modules."""

    def __init__(self, nn, d, approximate):
        self.norm, self.fc1, self.fc2 = nn.LayerNorm(d).double(), nn.Linear(d, 4 * d).double(), \
            nn.Linear(4 * d, d).double()
        self.act = nn.GELU(approximate=approximate)

    def parameters(self):
        return [*self.norm.parameters(), *self.fc1.parameters(), *self.fc2.parameters()]

    def __call__(self, x):
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_mlp_gradient_penalty_matches_torch(approximate):
    torch = needs_torch()
    gpunet.manual_seed(0)
    ours, theirs = _Block(gpunet.nn, 6, approximate), _Block(torch.nn, 6, approximate)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        with torch.no_grad():
            q.copy_(torch.tensor(p.detach().numpy()) + 0.1)  # layer norm's ones and zeros made generic
        with gpunet.no_grad():
            p.add_(0.1)
    x = np.random.default_rng(6).normal(size=(2, 3, 6))
    results = []
    for lib, block in ((gpunet, ours), (torch, theirs)):
        xt = lib.tensor(x, requires_grad=True)
        out = block(xt)
        (g,) = lib.autograd.grad(out.pow(2).sum(), xt, create_graph=True)
        loss = out.mean() + ((g.reshape(2, -1).norm(2, dim=1) - 1) ** 2).mean()
        loss.backward()
        results.append([p.grad for p in block.parameters()] + [xt.grad])
    _close(*results)

