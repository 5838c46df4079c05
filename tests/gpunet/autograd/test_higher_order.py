"""Higher-order gradients (create_graph=True): gradgradcheck per op, the walk's semantics, the refusal of
ops without a differentiable backward, autograd.functional, and parity with PyTorch on the common uses
(Hessian-vector products, WGAN-GP gradient penalty, a MAML step)."""
import warnings

import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet import autograd
from gpunet.autograd import engine, gradgradcheck
from gpunet.autograd.function import Op

from tests.helpers import needs_torch, simulated


def _t(shape, device, seed=0, low=-1.0, high=1.0, grad=True):
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    return gpunet.tensor(values, dtype=gpunet.float64, device=device, requires_grad=grad)


def _ids(values, like):
    return gpunet.tensor(values, device=like.device)


def _seeded_dropout(x):
    gpunet.manual_seed(0)  # the same mask at every evaluation of the finite differences
    return F.dropout(x, 0.5)


# ---- gradgradcheck of every op with a differentiable backward ---------------------------------------
_idx = [0, 0, 2]
CASES = {
    "add_sub_broadcast": (lambda a, b: (a + b) * (a - b), [(3, 1), (4,)]),
    "mul_div": (lambda a, b: a * b / (b + 3), [(3, 1), (4,)]),
    "neg_scalar_ops": (lambda a: -(2 * a) / 3 + 1 / (a + 2) - a * 0.5, [(4,)]),
    "pow_tensor": (lambda a, b: (a + 2) ** b, [(3,), (3,)]),
    "pow_scalar": (lambda a: a ** 3 + (a + 2) ** 0.5 + a ** 2, [(4,)]),
    "exp_log_sqrt": (lambda a: a.exp() + (a + 2).log() + (a * a + 1).sqrt() + (a * a + 1).rsqrt(), [(4,)]),
    "log1p_expm1_log2_log10": (lambda a: (a + 2).log1p() + a.expm1() + (a + 2).log2() + (a + 2).log10(),
                               [(4,)]),
    "trig_erf_reciprocal": (lambda a: a.sin() * a.cos() + a.tan() + a.erf() + (a + 2).reciprocal(), [(4,)]),
    "square_abs": (lambda a: a.square() * a.abs(), [(5,)]),
    "inverse_hyperbolic_trig": (lambda a, b: (a * 0.5).asin() + (a * 0.5).acos() * a.atan()
                                + a.sinh() * a.cosh() + a.asinh() + (a * a + 1.5).acosh() + (a * 0.5).atanh()
                                + gpunet.atan2(a, b + 3) * gpunet.hypot(a, b), [(4,), (4,)]),
    "clamp": (lambda a: (a * a).clamp(0.1, 0.5) + a.clamp(min=-0.3) * a, [(2, 3)]),
    "clamp_tensor_bounds": (lambda a, lo: a.clamp(min=lo) * a, [(2, 3), (3,)]),
    "maximum_minimum": (lambda a, b: gpunet.maximum(a, b) * a + gpunet.minimum(a, b) * b, [(2, 3), (3,)]),
    "where": (lambda a, b: gpunet.where(a > 0, a * a, b * a), [(2, 3), (2, 3)]),
    "relu_leaky_relu": (lambda a: F.relu(a) * a + F.leaky_relu(a, 0.1) * a, [(2, 3)]),
    "sigmoid_tanh": (lambda a: a.sigmoid() * a.tanh(), [(2, 3)]),
    "elu_selu_celu": (lambda a: F.elu(a, 0.7) * a + F.selu(a) + F.celu(a * 2, 1.5), [(2, 3)]),
    "softplus": (lambda a: F.softplus(a, beta=2) + F.softplus(a * 30, threshold=5), [(6,)]),
    "logsigmoid_hard": (lambda a: F.logsigmoid(a) + F.hardtanh(2 * a) * a + F.hardsigmoid(3 * a) * a
                        + F.threshold(a, 0.1, 2.0) * a, [(2, 3)]),
    "sum_mean": (lambda a: (a * a).sum(1) + (a * a * a).mean() + (a * a).mean(0, keepdim=True).sum(),
                 [(2, 3)]),
    "var_std": (lambda a: a.var(1) + a.std(), [(2, 3)]),
    "max_all": (lambda a: a.max() * a + a.amax(1, keepdim=True) * a, [(2, 3)]),
    "logsumexp": (lambda a: a.logsumexp(1), [(2, 3)]),
    "cumsum": (lambda a: (a * a).cumsum(1), [(2, 3)]),
    "norm": (lambda a: a.norm(2, dim=1) + a.norm() + a.norm(3, dim=0).sum(), [(2, 3)]),
    "vector_norm": (lambda a: F.normalize(a, dim=1) + F.normalize(a, p=3, dim=0)
                    + F.normalize(a * a, p=1, dim=0), [(2, 3)]),
    "reshape_permute_expand": (lambda a: (a * a).permute(1, 0).reshape(-1).unsqueeze(0).expand(2, 6),
                               [(2, 3)]),
    "view_transpose_flatten": (lambda a: (a * a).view(3, 2).t().flatten() * a.transpose(0, 1).reshape(-1),
                               [(2, 3)]),
    "squeeze_unsqueeze": (lambda a: (a * a).unsqueeze(1).squeeze(1) * a, [(2, 3)]),
    "flip_roll_repeat": (lambda a: (a * a).flip(0).roll(1, 1).repeat(2, 1), [(2, 3)]),
    "index_slice_select": (lambda a: a[0, 1:] * a[:, 2].sum() + a.select(1, 0).sum() * a[1, :2], [(2, 3)]),
    "index_advanced": (lambda a: a[:, _idx] * a[:, _idx], [(2, 3)]),
    "cat_stack": (lambda a, b: gpunet.cat([a * a, b], 1).sum(1) + gpunet.stack([a * b, b]).sum(0).sum(1),
                  [(2, 3), (2, 3)]),
    "linear": (lambda x, w, b: F.linear(x, w, b).tanh(), [(2, 3), (4, 3), (4,)]),
    "linear_3d": (lambda x, w: F.linear(x, w).tanh(), [(2, 2, 3), (4, 3)]),
    "matmul_mm_bmm": (lambda a, b: (a @ b).tanh().sum(0) + gpunet.mm(a, b).sin().sum(0)
                      + gpunet.bmm(a.unsqueeze(0), b.unsqueeze(0))[0].sigmoid(), [(2, 3), (3, 4)]),
    "matmul_vector": (lambda x, w: (x @ w).tanh() + (w.t() @ x).sin().sum(), [(3,), (3, 4)]),
    "softmax_log_softmax": (lambda a: F.softmax(a, 1) * F.log_softmax(a, 0), [(2, 3)]),
    "mse_loss": (lambda x, y: F.mse_loss(x * x, y) + F.mse_loss(x, y, reduction="none").sum(0).exp().sum(),
                 [(2, 3), (2, 3)]),
    "l1_loss": (lambda x, y: F.l1_loss(x * x, y, reduction="sum"), [(2, 3), (2, 3)]),
    "nll_log_softmax": (lambda x: F.nll_loss(F.log_softmax(x * x, 1), gpunet.tensor([0, 2], device=x.device),
                                             reduction="sum"), [(2, 3)]),
    "to_dtype": (lambda a: a.to(gpunet.float64) * a, [(3,)]),
    "pad_constant_and_crop": (lambda a: F.pad(a * a, (1, 2, -1, 0), value=0.5) * F.pad(a, (1, 2, -1, 0)),
                              [(1, 2, 3, 3)]),
    "pad_reflect_replicate_circular": (lambda a: F.pad(a * a, (1, 1, 2, 0), mode="reflect")
                                       + F.pad(a * a, (1, 1, 2, 0), mode="replicate")
                                       + F.pad(a * a, (1, 1, 2, 0), mode="circular"), [(1, 2, 3, 3)]),
    "dropout_mask_fixed": (lambda a: _seeded_dropout(a * a) * a, [(2, 5)]),
    "embedding": (lambda w: F.embedding(_ids([[0, 2], [2, 3]], w), w * w, padding_idx=3)
                  + F.embedding(_ids([1, 1, 0], w), w, scale_grad_by_freq=True).sum(), [(4, 2)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x * 1.5, (3,), w, b), [(2, 3), (3,), (3,)]),
    "layer_norm_leaf_input": (lambda x: F.layer_norm(x, (2, 3)), [(2, 2, 3)]),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                         [(4, 3), (3,), (3,)]),
    "batch_norm_eval": (lambda x, w: F.batch_norm(x * 2, gpunet.full_like(w, 0.1), gpunet.full_like(w, 0.7),
                                                  w), [(4, 3), (3,)]),
    "group_instance_norm": (lambda x, w: F.group_norm(x + 1, 2, w) + F.instance_norm(x.tanh()),
                            [(2, 4, 3), (4,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name, device):
    fn, shapes = CASES[name]
    inputs = [_t(s, device, seed=i) for i, s in enumerate(shapes)]
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1},
                                    {"stride": (1, 2), "dilation": 2, "padding": 2}])
def test_gradgradcheck_conv2d(kwargs, device):
    if simulated(device):  # every kernel launch costs ~25 ms there: one strided case, one channel
        if "dilation" in kwargs or not kwargs:
            pytest.skip("the simulated device runs the strided case only (the graph code is device-agnostic)")
        x, w, b = _t((1, 1, 4, 4), device), _t((1, 1, 2, 2), device, 1), _t((1,), device, 2)
    else:
        x, w, b = _t((2, 2, 5, 6), device), _t((2, 2, 3, 3), device, 1), _t((2,), device, 2)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **kwargs).tanh(), [x, w, b])


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1, "output_padding": 1},
                                    {"stride": (1, 2), "dilation": 2, "padding": (2, 1)}])
def test_gradgradcheck_conv_transpose2d(kwargs, device):
    if simulated(device):  # as for conv2d
        if "dilation" in kwargs or not kwargs:
            pytest.skip("the simulated device runs the strided case only (the graph code is device-agnostic)")
        x, w, b = _t((1, 1, 2, 2), device), _t((1, 1, 2, 2), device, 1), _t((1,), device, 2)
    else:
        x, w, b = _t((2, 2, 3, 4), device), _t((2, 3, 3, 3), device, 1), _t((3,), device, 2)
    assert gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs).tanh(), [x, w, b])


POOLS = {
    "max_pool2d": lambda x: F.max_pool2d(x * x, 3, stride=1, padding=1) * x,
    "max_pool2d_ceil": lambda x: F.max_pool2d(x * x, 2, ceil_mode=True).tanh(),
    "avg_pool2d": lambda x: F.avg_pool2d(x * x, 3, stride=2, padding=1).tanh(),
    "avg_pool2d_ceil": lambda x: F.avg_pool2d(x * x, 2, ceil_mode=True, count_include_pad=False).tanh(),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x * x, (2, 3)).tanh(),
    "adaptive_max_pool2d": lambda x: F.adaptive_max_pool2d(x * x, (2, 3)).tanh(),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_gradgradcheck_pooling(name, device):
    x = _t((1, 1, 5, 5) if simulated(device) else (2, 2, 5, 5), device)
    assert gradgradcheck(POOLS[name], [x])


def test_gradgradcheck_across_devices(device):
    x = _t((3,), "cpu")
    assert gradgradcheck(lambda a: (a.to(device) ** 3).cpu() * a, [x])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class Square(autograd.Function):  # backward drops the dependence on x: wrong second derivative
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x.detach()

    x = _t((3,), "cpu")
    assert autograd.gradcheck(Square.apply, [x])
    assert not gradgradcheck(Square.apply, [x], raise_exception=False)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gradgradcheck(Square.apply, [x])


# ---- the walk's semantics -----------------------------------------------------------------------------
def test_grad_create_graph_then_backward(device):
    x = _t((3,), device)
    (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(g.detach().cpu().numpy(), 3 * x.detach().cpu().numpy() ** 2)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), 6 * x.detach().cpu().numpy())


def test_retain_graph_defaults_to_create_graph():
    x = _t((3,), "cpu")
    y = (x.exp() * x).sum()
    autograd.grad(y, x, create_graph=True)
    autograd.grad(y, x, create_graph=True)  # the graph was kept
    autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        autograd.grad(y, x)


def test_backward_create_graph_accumulates_a_graph_and_warns_once():
    engine._warned_cycle[0] = False
    x = _t((3,), "cpu")
    with pytest.warns(UserWarning, match="reference cycle"):
        (x ** 3).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        (x ** 2).sum().backward(create_graph=True)
    expected = 3 * x.detach().numpy() ** 2 + 2 * x.detach().numpy()
    np.testing.assert_allclose(x.grad.detach().numpy(), expected)
    grad_sum = x.grad.sum()
    x.grad = None
    grad_sum.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy() + 2)


def test_backward_create_graph_with_inputs():
    engine._warned_cycle[0] = True
    x, y = _t((3,), "cpu"), _t((3,), "cpu", 1)
    (x * x * y).sum().backward(inputs=[x], create_graph=True)
    assert y.grad is None and x.grad.grad_fn is not None


def test_grad_outputs_that_require_grad_keep_their_graph():
    x, v = _t((3,), "cpu"), _t((3,), "cpu", 1)
    (g,) = autograd.grad(x * x, x, grad_outputs=v, create_graph=True)  # 2 x v
    (gv,) = autograd.grad(g.sum(), v)
    np.testing.assert_allclose(gv.numpy(), 2 * x.detach().numpy())


def test_result_without_a_graph_when_the_gradient_is_constant():
    x = _t((3,), "cpu")
    (g,) = autograd.grad((2 * x).sum(), x, create_graph=True)
    assert not g.requires_grad
    np.testing.assert_allclose(g.numpy(), 2.0)


def test_tensor_hooks_see_and_return_graph_tensors():
    x = _t((3,), "cpu")
    seen = []
    y = x * x
    y.register_hook(lambda g: seen.append(g.requires_grad) or g * 2)
    (g,) = autograd.grad((y * x).sum(), x, create_graph=True)  # y * x = x^3, the y branch doubled: 5 x^2
    np.testing.assert_allclose(g.detach().numpy(), 5 * x.detach().numpy() ** 2)
    (h,) = autograd.grad(g.sum(), x)
    # the second walk passes y's node again (through the y term), so the hook doubles that path too: 12 x
    np.testing.assert_allclose(h.numpy(), 12 * x.detach().numpy())
    assert seen == [True, False]  # as PyTorch


def test_custom_function_backward_runs_with_grad_mode_on():
    class Cube(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert gpunet.is_grad_enabled()
            return 3 * g * x * x

    x = _t((3,), "cpu")
    assert gradgradcheck(Cube.apply, [x])
    (g,) = autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.detach().numpy())


def test_once_differentiable_backward_refuses_a_second_differentiation():
    class Square(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    x = _t((3,), "cpu")
    (g,) = autograd.grad((Square.apply(x) * x).sum(), x, create_graph=True)  # 3 x^2, through Square twice
    np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2)
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with "
                                           "@once_differentiable"):
        g.sum().backward()


def test_first_order_walk_is_unchanged_after_a_create_graph_walk():
    x = _t((3,), "cpu")
    y = (x.tanh() * x).sum()
    autograd.grad(y, x, create_graph=True)
    y.backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_third_derivative():
    x = _t((3,), "cpu")
    (g,) = autograd.grad((x ** 4).sum(), x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x, create_graph=True)
    (k,) = autograd.grad(h.sum(), x)
    np.testing.assert_allclose(k.numpy(), 24 * x.detach().numpy())


# ---- refusal -------------------------------------------------------------------------------------------
class _Twice(Op):
    """An Op without a backward_graph: what the create_graph walk refuses."""

    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_op_without_differentiable_backward_is_refused_by_name(device):
    x = _t((2, 3), device)
    y = (_Twice.apply(x) * x).sum()
    expected = (r"^create_graph=True: _TwiceBackward \([\w.]*test_higher_order\._Twice\) has no "
                r"differentiable backward in gpunet yet; supported: .*MulBackward0")
    with pytest.raises(NotImplementedError, match=expected):
        autograd.grad(y, x, create_graph=True)
    (g,) = autograd.grad(y, x)  # the first-order walk still works
    np.testing.assert_allclose(g.cpu().numpy(), 4 * x.detach().cpu().numpy())


@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 1},
                                     {"label_smoothing": 0.2, "weight": True}])
def test_cross_entropy_on_logits_has_second_derivatives(options, device):
    # the fused (N, C) path: its backward as softmax(x) times constants
    x = _t((4, 3), device)
    target = _ids([0, 1, 2, 1], x)
    options = dict(options)  # the parameter is shared by the cpu and cuda runs
    if options.pop("weight", False):
        options["weight"] = _t((3,), device, seed=1, low=0.5, high=2.0, grad=False)
    assert gradgradcheck(lambda x: F.cross_entropy(x, target, **options).tanh(), [x])


def test_refused_op_deep_in_the_graph_is_named():
    x = _t((4, 3), "cpu")
    loss = F.cross_entropy(F.silu(_Twice.apply(F.gelu(x))), gpunet.tensor([0, 1, 2, 1]))
    with pytest.raises(NotImplementedError, match=r"_TwiceBackward \([\w.]*test_higher_order\._Twice\)"):
        autograd.grad(loss, x, create_graph=True)


# ---- autograd.functional ---------------------------------------------------------------------------------
def test_functional_matches_torch():
    torch = needs_torch()
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (2, 3))

    def run(lib):
        x, w = lib.tensor(a), lib.tensor(b)
        AF = lib.autograd.functional

        def scalar(x):
            return (w @ x).tanh().sum() * x.sum()

        def vector(x, w):
            return (w @ x).tanh()
        return [AF.jacobian(vector, (x, w)), AF.jacobian(lambda x: x * 2, x), AF.hessian(scalar, x),
                AF.hessian(lambda x, w: (w @ x).tanh().sum(), (x, w)), AF.hvp(scalar, x, x),
                AF.vhp(scalar, x, x), AF.vjp(vector, (x, w), lib.ones(2))]

    def flat(v):
        return [z for u in v for z in flat(u)] if isinstance(v, (tuple, list)) else [v]
    ours, theirs = flat(run(gpunet)), flat(run(torch))
    assert len(ours) == len(theirs)
    for u, v in zip(ours, theirs):
        assert tuple(u.shape) == tuple(v.shape)
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=0, atol=1e-12)


# ---- parity with PyTorch on the common uses (float64, identical weights) --------------------------------
def _mlp(nn, sizes, act):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(act(nn))
    return nn.Sequential(*layers).double()


def _copy_weights(src, dst, torch):
    for p, q in zip(src.parameters(), dst.parameters()):
        with torch.no_grad():
            q.copy_(torch.tensor(p.detach().numpy()))


def _close(ours, theirs, atol=1e-10):
    for u, v in zip(ours, theirs):
        np.testing.assert_allclose(u.detach().numpy(), v.detach().numpy(), rtol=0, atol=atol)


@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_hessian_vector_product_of_mlp_matches_torch(act):
    torch = needs_torch()
    make = (lambda nn: nn.Tanh()) if act == "tanh" else (lambda nn: nn.Softplus(beta=2))
    gpunet.manual_seed(0)
    ours = _mlp(gpunet.nn, [3, 8, 8, 1], make)
    theirs = _mlp(torch.nn, [3, 8, 8, 1], make)
    _copy_weights(ours, theirs, torch)
    x = np.random.default_rng(1).normal(size=(5, 3))
    results = []
    for lib, model in ((gpunet, ours), (torch, theirs)):
        params = list(model.parameters())
        loss = (model(lib.tensor(x)) ** 2).mean()
        grads = lib.autograd.grad(loss, params, create_graph=True)
        v = [lib.ones_like(p) * 0.1 for p in params]
        dot = sum((g * u).sum() for g, u in zip(grads, v))
        results.append(lib.autograd.grad(dot, params))
    _close(*results)


def _penalty_grads(lib, critic, real, fake, alpha):
    """WGAN-GP: the critic's loss with lambda * (||d critic / d x|| - 1)^2 at interpolates, and its gradient
    with respect to the critic's parameters."""
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(x)
    (g,) = lib.autograd.grad(out.sum(), x, create_graph=True)
    penalty = ((g.reshape(g.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + 10 * penalty
    for p in critic.parameters():
        p.grad = None
    loss.backward()
    return [p.grad for p in critic.parameters()]


@pytest.mark.parametrize("norm", [False, True])
def test_wgan_gp_penalty_on_mlp_critic_matches_torch(norm):
    torch = needs_torch()
    if norm:  # layer norm is the critic normalisation WGAN-GP recommends
        make = lambda nn: nn.Sequential(nn.LayerNorm(16), nn.LeakyReLU(0.2))  # noqa: E731
    else:
        make = lambda nn: nn.LeakyReLU(0.2)  # noqa: E731
    gpunet.manual_seed(0)
    ours = _mlp(gpunet.nn, [4, 16, 16, 1], make)
    theirs = _mlp(torch.nn, [4, 16, 16, 1], make)
    _copy_weights(ours, theirs, torch)
    rng = np.random.default_rng(2)
    real, fake, alpha = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.uniform(size=(6, 1))
    results = [_penalty_grads(lib, model, lib.tensor(real), lib.tensor(fake), lib.tensor(alpha))
               for lib, model in ((gpunet, ours), (torch, theirs))]
    _close(*results)


def _conv_critic(nn):
    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 3),
                         nn.Tanh(), nn.Flatten(), nn.Linear(4, 1)).double()


def test_wgan_gp_penalty_on_conv_critic_matches_torch():
    torch = needs_torch()
    gpunet.manual_seed(0)
    ours, theirs = _conv_critic(gpunet.nn), _conv_critic(torch.nn)
    _copy_weights(ours, theirs, torch)
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(3, 2, 6, 6)), rng.normal(size=(3, 2, 6, 6))
    alpha = rng.uniform(size=(3, 1, 1, 1))
    results = [_penalty_grads(lib, model, lib.tensor(real), lib.tensor(fake), lib.tensor(alpha))
               for lib, model in ((gpunet, ours), (torch, theirs))]
    _close(*results)


def test_maml_inner_step_then_outer_backward_matches_torch():
    torch = needs_torch()
    make = lambda nn: nn.ReLU()  # noqa: E731
    gpunet.manual_seed(0)
    ours = _mlp(gpunet.nn, [1, 16, 16, 1], make)
    theirs = _mlp(torch.nn, [1, 16, 16, 1], make)
    _copy_weights(ours, theirs, torch)
    rng = np.random.default_rng(4)
    xs, xq = rng.uniform(-5, 5, (8, 1)), rng.uniform(-5, 5, (8, 1))
    ys, yq = np.sin(xs + 1), np.sin(xq + 1)
    results = []
    for lib, model in ((gpunet, ours), (torch, theirs)):
        F_ = lib.nn.functional
        params = list(model.parameters())

        def forward(x, p):
            h = F_.relu(F_.linear(x, p[0], p[1]))
            h = F_.relu(F_.linear(h, p[2], p[3]))
            return F_.linear(h, p[4], p[5])
        inner = F_.mse_loss(forward(lib.tensor(xs), params), lib.tensor(ys))
        grads = lib.autograd.grad(inner, params, create_graph=True)
        fast = [p - 0.01 * g for p, g in zip(params, grads)]
        outer = F_.mse_loss(forward(lib.tensor(xq), fast), lib.tensor(yq))
        outer.backward()
        results.append([p.grad for p in params])
    _close(*results)
