"""Activations: forward and gradients vs torch (float64, float32), finite differences, stability, in-place."""
import warnings

import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import compare, gradcheck, rand, to_np

ACTIVATIONS = [
    ("relu", lambda F, x: F.relu(x)),
    ("relu6", lambda F, x: F.relu6(x * 4)),
    ("leaky_relu", lambda F, x: F.leaky_relu(x)),
    ("leaky_relu_0.2", lambda F, x: F.leaky_relu(x, 0.2)),
    ("elu", lambda F, x: F.elu(x)),
    ("elu_0.5", lambda F, x: F.elu(x, alpha=0.5)),
    ("selu", lambda F, x: F.selu(x)),
    ("celu", lambda F, x: F.celu(x, alpha=1.5)),
    ("gelu", lambda F, x: F.gelu(x)),
    ("gelu_tanh", lambda F, x: F.gelu(x, approximate="tanh")),
    ("silu", lambda F, x: F.silu(x)),
    ("mish", lambda F, x: F.mish(x)),
    ("sigmoid", lambda F, x: F.sigmoid(x)),
    ("tanh", lambda F, x: F.tanh(x)),
    ("softplus", lambda F, x: F.softplus(x)),
    ("softplus_beta", lambda F, x: F.softplus(x, beta=2.0, threshold=1.5)),
    ("softsign", lambda F, x: F.softsign(x)),
    ("hardtanh", lambda F, x: F.hardtanh(x)),
    ("hardtanh_range", lambda F, x: F.hardtanh(x, -0.5, 1.5)),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x * 3)),
    ("hardswish", lambda F, x: F.hardswish(x * 3)),
    ("logsigmoid", lambda F, x: F.logsigmoid(x)),
    ("threshold", lambda F, x: F.threshold(x, 0.3, -2.0)),
    ("tanhshrink", lambda F, x: F.tanhshrink(x)),
    ("softshrink", lambda F, x: F.softshrink(x, 0.4)),
    ("hardshrink", lambda F, x: F.hardshrink(x, 0.4)),
    ("softmax0", lambda F, x: F.softmax(x, 0)),
    ("softmax1", lambda F, x: F.softmax(x, dim=1)),
    ("softmax-1", lambda F, x: F.softmax(x, dim=-1)),
    ("log_softmax1", lambda F, x: F.log_softmax(x, dim=1)),
    ("log_softmax0", lambda F, x: F.log_softmax(x, dim=0)),
    ("softmin", lambda F, x: F.softmin(x, dim=1)),
    ("glu", lambda F, x: F.glu(x, dim=1)),
    ("glu_last", lambda F, x: F.glu(x)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, fn, dtype, device):
    # values kept away from the kinks (0, thresholds) so finite differences are meaningful
    x = rand(3, 4, 2, seed=1, low=-3, high=3)
    x[np.abs(x) < 0.05] += 0.1
    # torch's hardsigmoid/hardswish backward use a float32 constant 1/6 even in float64
    rtol = 1e-7 if name.startswith("hards") and dtype == "float64" else None
    compare(fn, x, dtype=dtype, fd=dtype == "float64", rtol=rtol, device=device)


@pytest.mark.parametrize("name,fn", ACTIVATIONS[:12] + ACTIVATIONS[26:31],
                         ids=[a[0] for a in ACTIVATIONS[:12] +
                                                                                ACTIVATIONS[26:31]])
def test_activation_gradcheck(name, fn, device):
    x = rand(2, 3, seed=2, low=-2, high=2)
    x[np.abs(x) < 0.05] += 0.1
    gradcheck(fn, x, device=device)


def test_prelu_matches_torch(device):
    x, w = rand(2, 3, 4, seed=3), np.array([0.1, -0.3, 0.25])
    compare(lambda F, x, w: F.prelu(x, w), x, w, fd=True, device=device)
    compare(lambda F, x, w: F.prelu(x, w), x, np.array([0.2]), device=device)


def test_gradients_at_kinks_match_torch(device):
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 20.0, 21.0])
    for fn in (lambda F, x: F.relu(x), lambda F, x: F.relu6(x), lambda F, x: F.hardtanh(x),
               lambda F, x: F.leaky_relu(x), lambda F, x: F.hardsigmoid(x), lambda F, x: F.hardswish(x),
               lambda F, x: F.threshold(x, 1.0, 0.0), lambda F, x: F.softplus(x), lambda F, x: F.elu(x)):
        compare(fn, x, fd=False, rtol=1e-7, device=device)  # torch's hardsigmoid uses a float32 1/6


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu", "mish",
                                  "hardtanh",
                                  "hardsigmoid", "hardswish", "threshold"])
def test_inplace_writes_into_input_and_keeps_grad(name, device):
    args = {"threshold": (0.1, 0.0)}.get(name, ())
    x = rand(3, 4, seed=4)
    leaf = gpunet.tensor(x, requires_grad=True, device=device)
    h = leaf * 1.0
    out = getattr(F, name)(h, *args, inplace=True)
    assert out is h
    expected = getattr(F, name)(gpunet.tensor(x, device=device), *args)
    np.testing.assert_allclose(to_np(h), to_np(expected))
    out.sum().backward()
    ref = gpunet.tensor(x, requires_grad=True, device=device)
    getattr(F, name)(ref, *args).sum().backward()
    np.testing.assert_allclose(to_np(leaf.grad), to_np(ref.grad))


def test_inplace_on_leaf_requiring_grad_raises(device):
    x = gpunet.randn(3, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(x, inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.elu_(x)


def test_softmax_stable_for_huge_logits(device):
    x = gpunet.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], requires_grad=True, device=device)
    p = F.softmax(x, dim=1)
    lp = F.log_softmax(x, dim=1)
    np.testing.assert_allclose(to_np(p), [[1, 0, 0], [1 / 3] * 3], atol=1e-7)
    np.testing.assert_allclose(to_np(lp), [[0, -1e4, -2e4], [-np.log(3)] * 3], rtol=1e-6)
    (p.sum() + lp.sum()).backward()
    assert np.isfinite(to_np(x.grad)).all()


def test_softmax_minus_inf_masking_matches_torch(device):
    x = np.array([[0.5, -np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf, -np.inf], [2.0, 1.0, 0.0, -1.0]])
    for fn in (lambda F, x: F.softmax(x, dim=1), lambda F, x: F.log_softmax(x, dim=1)):
        out = compare(fn, x, fd=False, device=device)
        assert np.isnan(to_np(out)[1]).all()  # a fully masked row is nan, as in PyTorch
        assert to_np(out)[0, 1] in (0.0, -np.inf)


def test_softmax_rows_sum_to_one_and_log_softmax_consistent(device):
    x = gpunet.randn(5, 7, 3, device=device)
    for d in (0, 1, 2, -1):
        np.testing.assert_allclose(to_np(F.softmax(x, d).sum(d)), 1.0, rtol=1e-6)
        np.testing.assert_allclose(to_np(F.log_softmax(x, d).exp()), to_np(F.softmax(x, d)), rtol=1e-5,
                                   atol=1e-7)


def test_softmax_dtype_argument_and_implicit_dim(device):
    x = gpunet.randn(2, 3, device=device)
    assert F.softmax(x, 1, dtype=gpunet.float64).dtype == gpunet.float64
    assert F.log_softmax(x, 1, dtype=gpunet.float64).dtype == gpunet.float64
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    np.testing.assert_allclose(to_np(y), to_np(F.softmax(x, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(to_np(F.log_softmax(gpunet.randn(4, device=device))).sum(),
                                   to_np(F.log_softmax(
            gpunet.randn(4, device=device), 0)).sum(), rtol=10)  # 1-D: dim 0
        assert F.softmax(gpunet.randn(2, 3, 4, device=device)).shape == (2, 3, 4)


def test_softmax_bad_dim_raises(device):
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(gpunet.randn(2, 3, device=device), dim=2)


def test_float_only_activations_reject_integers(device):
    x = gpunet.tensor([1, 2, 3], device=device)
    assert F.relu(x).tolist() == [1, 2, 3]
    for fn in (F.gelu, F.silu, F.elu, F.sigmoid if False else F.softplus, F.leaky_relu):
        with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
            fn(x)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.gelu([1.0, 2.0])


def test_gelu_bad_approximate(device):
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(gpunet.randn(2, device=device), approximate="fast")


def test_glu_odd_dim_raises(device):
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(gpunet.randn(2, 3, device=device), dim=1)


def test_float32_stays_float32(device):
    x = gpunet.randn(3, 4, device=device)
    for name, fn in ACTIVATIONS:
        assert fn(F, x).dtype == gpunet.float32, name
