"""Higher-order gradients (create_graph=True) of indexing (gather, index_select, scatter, setitem), max/min
with dim, prod, einsum, fill, upsampling and scaled dot-product attention: gradgradcheck on both devices, and
parity with PyTorch on the gradient of sum(grad(f(x), x, create_graph=True) ** 2)."""
import contextlib
import math

import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet import autograd
from gpunet.autograd import gradgradcheck

from tests.helpers import needs_torch, simulated


def _t(shape, device, seed=0, low=-1.0, high=1.0, grad=True):
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    return gpunet.tensor(values, dtype=gpunet.float64, device=device, requires_grad=grad)


def _ids(values, like):
    return gpunet.tensor(values, device=like.device)


def _setitem(a, b):
    y = a * 1
    y[0, 1:] = b[0, :2] * b[0, :2]  # basic index
    y[:, [0, 2]] = b[:, :2] * a[:, :2]  # advanced index
    y[1, [1]] = b[1, 2:] ** 3  # an integer then an advanced index (applied in two steps)
    return y * a


def _fill(a):
    y = a * a
    y.fill_(2.0)  # y's history stays in the graph, passing a zero gradient
    z = a * a
    z.zero_()
    return (y + z) * a + a * a


def _scatter(a, s):
    index = _ids([[2, 0], [1, 2]], a)  # one place per row each: overwriting is deterministic
    return a.scatter(1, index, s * s) * a + a.scatter(1, index, 0.5) * s.sum()


def _scatter_add(a, s):
    index = _ids([[2, 2, 0], [1, 0, 1]], a)  # repeated places add up
    return a.scatter_add(1, index, s * s) * a + gpunet.scatter_add(a * a, 0, index[1:, :2], s[:1, :2])


CASES = {
    "gather": (lambda a: (a * a).gather(1, _ids([[0, 0, 2], [1, 0, 1]], a)) * a
               + a.gather(0, _ids([[1, 0]], a)).sum(), [(2, 3)]),
    "index_select": (lambda a: (a * a).index_select(1, _ids([2, 0, 2], a)) * a
                     + a.index_select(0, _ids([1], a)).tanh(), [(2, 3)]),
    "scatter": (_scatter, [(2, 3), (2, 3)]),
    "scatter_add": (_scatter_add, [(2, 3), (2, 3)]),
    "setitem": (_setitem, [(2, 3), (2, 3)]),
    "max_min_dim": (lambda a: a.max(1).values * (a * a).min(0, keepdim=True).values.sum()
                    + (a * a).max(0).values.sum(), [(2, 3)]),
    "prod": (lambda a: (a.prod(1) * a.prod()).sum() + (a * a).prod(0, keepdim=True), [(2, 3)]),
    "einsum": (lambda a, b: gpunet.einsum("ij,jk->ik", a, b.t()).tanh() + gpunet.einsum("ij,kj->", a * a, b),
               [(2, 3), (2, 3)]),
    "einsum_diagonal_and_sum": (lambda a, b: gpunet.einsum("ii,i->i", a * a, b)
                                + gpunet.einsum("ij->j", a) * b, [(3, 3), (3,)]),
    "einsum_broadcast_three": (lambda a, b, c: gpunet.einsum("bij,bj,k->bik", a, b * b, c),
                               [(2, 2, 3), (1, 3), (2,)]),
    "fill": (_fill, [(2, 3)]),
    "upsample_nearest": (lambda x: F.interpolate(x * x, scale_factor=2, mode="nearest") * 2
                         + F.interpolate(x, size=(3, 4), mode="nearest").sum(), [(1, 1, 2, 3)]),
    "upsample_bilinear": (lambda x: F.interpolate(x * x, size=(3, 4), mode="bilinear") * 2
                          + F.interpolate(x * x, scale_factor=2, mode="bilinear", align_corners=True).sum(),
                          [(1, 1, 2, 3)]),
    "linalg_inv_det_slogdet": (lambda a: gpunet.linalg.inv(_well(a)) * gpunet.linalg.det(_well(a))
                               + gpunet.linalg.slogdet(_well(a) * a).logabsdet, [(3, 3)]),
    "linalg_solve": (lambda a, b: gpunet.linalg.solve(_well(a), b * b)
                     + gpunet.linalg.solve(_well(a), b[:, 0].exp()).sum(), [(3, 3), (3, 2)]),
    "linalg_cholesky": (lambda a: gpunet.linalg.cholesky(a @ a.mT + _well(a) - a).tanh(), [(3, 3)]),
    "linalg_solve_triangular": (lambda a, b: gpunet.linalg.solve_triangular(_well(a), b * b, upper=True)
                                + gpunet.linalg.solve_triangular(_well(a), b, upper=False, unitriangular=True)
                                .tanh(), [(3, 3), (3, 2)]),
}


def _well(a):
    """a well-conditioned matrix of a (the diagonal lifted)."""
    return a + 3 * gpunet.eye(a.shape[-1], dtype=a.dtype, device=a.device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name, device):
    fn, shapes = CASES[name]
    inputs = [_t(s, device, seed=i) for i, s in enumerate(shapes)]
    assert gradgradcheck(fn, inputs)


def test_gradgradcheck_prod_with_zeros(device):
    # rows with one zero, two zeros and none: the product of the others without dividing by x
    values = [[0.0, 0.5, -1.5], [0.0, 0.0, 2.0], [0.7, -0.3, 1.2]]
    x = gpunet.tensor(values, dtype=gpunet.float64, device=device, requires_grad=True)
    assert gradgradcheck(lambda a: a.prod(1), [x])
    assert gradgradcheck(lambda a: a.prod(0).sum() * a.prod(), [x])


_ATTENTION = {
    "plain": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    "causal_scale": lambda q, k, v: F.scaled_dot_product_attention(q * q, k, v, is_causal=True, scale=0.7),
    "bool_mask": lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=gpunet.tensor([[True, False, True], [False, True, True]], device=q.device)),
}


@pytest.mark.parametrize("name", sorted(_ATTENTION))
def test_gradgradcheck_attention(name, device):
    q, k, v = _t((1, 1, 2, 2), device), _t((1, 1, 3, 2), device, 1), _t((1, 1, 3, 2), device, 2)
    if simulated(device):  # kernels cost tens of ms per launch there: one case, differentiated in q only
        if name != "causal_scale":
            pytest.skip("the simulated device runs one case (the graph code is device-agnostic)")
        k.requires_grad_(False)
        v.requires_grad_(False)
        assert gradgradcheck(lambda q: _ATTENTION[name](q, k, v), [q])
        return
    assert gradgradcheck(_ATTENTION[name], [q, k, v])


def test_gradgradcheck_attention_float_mask_and_gqa():  # cpu only: the graph code is device-agnostic
    q, k, v = _t((1, 4, 2, 3), "cpu"), _t((1, 2, 3, 3), "cpu", 1), _t((1, 2, 3, 2), "cpu", 2)
    mask = _t((2, 3), "cpu", 3)
    fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True)  # noqa: E731
    assert gradgradcheck(fn, [q, k, v, mask])


def test_dead_attention_rows_give_finite_second_derivatives():
    q, k, v = _t((1, 2, 2), "cpu"), _t((1, 2, 2), "cpu", 1), _t((1, 2, 2), "cpu", 2)
    mask = gpunet.tensor([[True, True], [False, False]])  # the second query sees no key
    (g,) = autograd.grad(F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum(), q, create_graph=True)
    (h,) = autograd.grad((g * g).sum(), k)
    assert np.isfinite(h.numpy()).all()


# ---- parity with PyTorch: d/dx sum(grad(f(x), x, create_graph=True) ** 2), float64 ------------------------
def _penalty(lib, fn, arrays, ints):
    xs = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]
    extra = [lib.tensor(a) for a in ints]
    with _math_attention(lib):
        out = fn(lib, *xs, *extra)
        weight = lib.tensor(np.linspace(0.5, 1.5, int(np.prod(out.shape))).reshape(tuple(out.shape)))
        grads = lib.autograd.grad((out * weight).sum(), xs, create_graph=True, allow_unused=True)
    total = sum((g * g).sum() for g in grads if g is not None)
    return lib.autograd.grad(total, xs, allow_unused=True)


_index = np.array([[2, 0, 2], [1, 1, 0]])
PARITY = {
    "gather_index_select": (lambda lib, a, i: (a * a).gather(1, i) * a.gather(1, i)
                            + (a ** 3).index_select(0, i[1, :2]).sum(0), [(2, 3)], [_index]),
    "scatter_scatter_add": (lambda lib, a, s, i: a.scatter(1, i[:, :1], s[:, :1] ** 3) * a
                            + (a * a).scatter_add(1, i, s * s) * s, [(2, 3), (2, 3)], [_index]),
    "setitem": (lambda lib, a, b: _setitem(a, b), [(2, 3), (2, 3)], []),
    "max_min_dim_prod": (lambda lib, a: a.max(1).values ** 3 + (a * a).min(0).values.sum()
                         + (a * a * a).prod(1) + a.prod(0).sum(), [(2, 3)], []),
    "einsum": (lambda lib, a, b: lib.einsum("ij,kj->ik", a * a, b).tanh() + lib.einsum("ii->i", a[:, :2] ** 3)
               .sum() * lib.einsum("ij,ij->i", a, b), [(2, 3), (2, 3)], []),
    "upsample": (lambda lib, x: lib.nn.functional.interpolate(x ** 3, size=(3, 5), mode="bilinear") ** 2
                 + lib.nn.functional.interpolate(x ** 3, scale_factor=2, mode="nearest").sum(),
                 [(1, 2, 2, 3)], []),
    "attention_causal_and_mask": (
        lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(q, k * k, v, is_causal=True)
        ** 2 + lib.nn.functional.scaled_dot_product_attention(q, k, v ** 3, attn_mask=m * m),
        [(2, 2, 3, 4), (2, 2, 3, 4), (2, 2, 3, 2), (3, 3)], []),
    "linalg": (lambda lib, a, b: lib.linalg.inv(a + 3 * lib.eye(3)) * lib.linalg.det(a * a + 2 * lib.eye(3))
               + lib.linalg.slogdet(a - 3 * lib.eye(3)).logabsdet
               + lib.linalg.solve(a + 3 * lib.eye(3), b ** 3).sum(-1, keepdim=True)
               + lib.linalg.cholesky(a @ a.mT + lib.eye(3)) ** 2
               + lib.linalg.solve_triangular(a + 3 * lib.eye(3), b, upper=True).tanh().sum(),
               [(3, 3), (3, 2)], []),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_second_derivative_matches_torch(name):
    torch = needs_torch()
    fn, shapes, ints = PARITY[name]
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-1, 1, s) for s in shapes]
    ours = _penalty(gpunet, fn, arrays, ints)
    theirs = _penalty(torch, fn, arrays, ints)
    for u, w in zip(ours, theirs):
        assert (u is None) == (w is None)
        if u is not None:
            np.testing.assert_allclose(u.numpy(), w.numpy(), rtol=1e-13, atol=1e-10)


def test_det_at_a_singular_matrix_refuses_create_graph_clearly():
    a = gpunet.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=gpunet.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="second derivative of linalg.det at a singular matrix"):
        autograd.grad(gpunet.linalg.det(a), a, create_graph=True)
    (g,) = autograd.grad(gpunet.linalg.det(a), a)  # first order still works
    np.testing.assert_allclose(g.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_prod_with_zeros_matches_torch():
    torch = needs_torch()
    values = np.array([[0.0, 0.5, -1.5], [0.0, 0.0, 2.0]])
    fn = lambda lib, a: a.prod(1) * 3 + a.prod(0).sum()  # noqa: E731
    for u, w in zip(_penalty(gpunet, fn, [values], []), _penalty(torch, fn, [values], [])):
        np.testing.assert_allclose(u.numpy(), w.numpy(), rtol=0, atol=1e-10)


def _math_attention(lib):
    """PyTorch's fused CPU attention has no double backward: its math backend does."""
    if lib is gpunet:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel(SDPBackend.MATH)


def _copy_weights(src, dst, torch):
    for p, q in zip(src.parameters(), dst.parameters()):
        with torch.no_grad():
            q.copy_(torch.tensor(p.detach().numpy()))


def test_embedding_gather_gradient_penalty_matches_torch():
    # a language-model style loss (embedding, linear, log-softmax, gather of the targets) with a penalty on
    # the gradient with respect to the embedded inputs
    torch = needs_torch()
    rng = np.random.default_rng(5)
    ids, targets = rng.integers(0, 7, (2, 4)), rng.integers(0, 5, (2, 4, 1))
    models = [(lib.nn.Embedding(7, 3).double(), lib.nn.Linear(3, 5).double()) for lib in (gpunet, torch)]
    for ours, theirs in zip(*models):
        _copy_weights(ours, theirs, torch)
    results = []
    for lib, (emb, head) in zip((gpunet, torch), models):
        x = emb(lib.tensor(ids))
        logp = lib.nn.functional.log_softmax(head(x.tanh()), -1)
        loss = -logp.gather(-1, lib.tensor(targets)).mean()
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        (loss + (g * g).sum()).backward()
        results.append([emb.weight.grad, head.weight.grad, head.bias.grad])
    for u, w in zip(*results):
        np.testing.assert_allclose(u.numpy(), w.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("mask", ["causal", "float"])
def test_multihead_attention_gradient_penalty_matches_torch(mask):
    torch = needs_torch()
    rng = np.random.default_rng(6)
    x, float_mask = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 3))
    causal = np.triu(np.full((3, 3), -np.inf), 1)
    models = [lib.nn.MultiheadAttention(4, 2, batch_first=True).double() for lib in (gpunet, torch)]
    _copy_weights(*models, torch)
    results = []
    for lib, mha in zip((gpunet, torch), models):
        if mask == "causal":
            kwargs = {"attn_mask": lib.tensor(causal), "is_causal": True}
        else:
            kwargs = {"attn_mask": lib.tensor(float_mask)}
        xt = lib.tensor(x, requires_grad=True)
        with _math_attention(lib):
            out, _ = mha(xt, xt, xt, need_weights=False, **kwargs)
            (g,) = lib.autograd.grad((out * out).sum(), xt, create_graph=True)
            ((g.norm(2, dim=-1) - 1) ** 2).mean().backward()  # the WGAN-GP penalty, here on attention
        results.append([p.grad for p in mha.parameters()])
    for u, w in zip(*results):
        np.testing.assert_allclose(u.numpy(), w.numpy(), rtol=0, atol=1e-10)


def test_third_derivative_through_gather_and_prod():
    x = _t((2, 3), "cpu")
    idx = _ids([[2, 0], [1, 1]], x)
    f = (x.gather(1, idx) ** 2).prod(1).sum()
    (g,) = autograd.grad(f, x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x, create_graph=True)
    (k,) = autograd.grad(h.sum(), x)
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    ft = (xt.gather(1, torch.tensor(idx.numpy())) ** 2).prod(1).sum()
    (gt,) = torch.autograd.grad(ft, xt, create_graph=True)
    (ht,) = torch.autograd.grad(gt.sum(), xt, create_graph=True)
    (kt,) = torch.autograd.grad(ht.sum(), xt)
    np.testing.assert_allclose(k.numpy(), kt.numpy(), rtol=0, atol=1e-10)
    assert math.isfinite(float(k.sum()))


@pytest.mark.parametrize("cell", ["GRUCell", "LSTMCell"])
def test_fused_rnn_cells_refuse_create_graph_and_say_why(cell):
    m = getattr(gpunet.nn, cell)(3, 2).double()
    x = _t((2, 3), "cpu")
    out = m(x)
    h = out[0] if isinstance(out, tuple) else out
    expected = r"\(gpunet\.ops\.rnn\.(GRU|LSTM)Step\) has no differentiable backward in gpunet yet: the fused"
    with pytest.raises(NotImplementedError, match=expected):
        autograd.grad(h.sum(), x, create_graph=True)
