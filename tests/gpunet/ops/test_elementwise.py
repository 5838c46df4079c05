"""Elementwise ops: forward and gradients vs PyTorch and float64 finite differences, broadcasting included."""
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import gpunet

from tests.helpers import check_op, lib

UNARY = [
    ("neg", lambda x: -x, -2, 2),
    ("abs", lambda x: x.abs(), -2, 2),
    ("exp", lambda x: x.exp(), -2, 2),
    ("expm1", lambda x: x.expm1(), -2, 2),
    ("log", lambda x: x.log(), 0.5, 3),
    ("log2", lambda x: x.log2(), 0.5, 3),
    ("log10", lambda x: x.log10(), 0.5, 3),
    ("log1p", lambda x: x.log1p(), -0.5, 3),
    ("sqrt", lambda x: x.sqrt(), 0.5, 3),
    ("rsqrt", lambda x: x.rsqrt(), 0.5, 3),
    ("reciprocal", lambda x: x.reciprocal(), 0.5, 3),
    ("sin", lambda x: x.sin(), -3, 3),
    ("cos", lambda x: x.cos(), -3, 3),
    ("tan", lambda x: x.tan(), -1, 1),
    ("tanh", lambda x: x.tanh(), -3, 3),
    ("sigmoid", lambda x: x.sigmoid(), -3, 3),
    ("relu", lambda x: x.relu(), -2, 2),
    ("erf", lambda x: x.erf(), -2, 2),
    ("square", lambda x: x.square(), -2, 2),
    ("pow2", lambda x: x ** 2, -2, 2),
    ("pow3", lambda x: x ** 3, -2, 2),
    ("pow_half", lambda x: x ** 0.5, 0.5, 3),
    ("pow_neg", lambda x: x.pow(-1.5), 0.5, 3),
    ("rpow", lambda x: 2.0 ** x, -2, 2),
    ("sign", lambda x: x.sign(), -2, 2),
    ("floor", lambda x: x.floor(), -2, 2),
    ("ceil", lambda x: x.ceil(), -2, 2),
    ("round", lambda x: x.round(), -2, 2),
    ("trunc", lambda x: x.trunc(), -2, 2),
    ("clamp", lambda x: x.clamp(-0.5, 0.7), -2, 2),
    ("clamp_min", lambda x: x.clamp(min=0.3), -2, 2),
    ("clamp_max", lambda x: x.clamp(max=0.3), -2, 2),
    ("clip", lambda x: x.clip(-1, 1), -2, 2),
    ("radd", lambda x: 1.5 + x, -2, 2),
    ("rsub", lambda x: 1.5 - x, -2, 2),
    ("rmul", lambda x: 1.5 * x, -2, 2),
    ("rdiv", lambda x: 1.5 / x, 0.5, 2),
    ("div_scalar", lambda x: x / 4, -2, 2),
    ("mod_scalar", lambda x: x % 0.7, 0.1, 2),
    ("round_decimals", lambda x: lib(x).round(x, decimals=2), -2, 2),
    ("asin", lambda x: x.asin(), -0.9, 0.9),
    ("acos", lambda x: lib(x).arccos(x), -0.9, 0.9),
    ("atan", lambda x: x.arctan(), -2, 2),
    ("sinh", lambda x: lib(x).sinh(x), -2, 2),
    ("cosh", lambda x: x.cosh(), -2, 2),
    ("asinh", lambda x: x.asinh(), -2, 2),
    ("acosh", lambda x: lib(x).acosh(x), 1.2, 3),
    ("atanh", lambda x: x.arctanh(), -0.9, 0.9),
    ("logit", lambda x: x.logit(), 0.1, 0.9),
    ("logit_eps", lambda x: lib(x).logit(x, eps=0.25), 0.1, 0.9),
    ("exp2", lambda x: x.exp2(), -2, 2),
    ("deg2rad", lambda x: lib(x).deg2rad(x), -200, 200),
    ("rad2deg", lambda x: x.rad2deg(), -2, 2),
]


@pytest.mark.parametrize("name,fn,low,high", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(3, 4), ()], ids=["3x4", "0d"])
def test_unary(name, fn, low, high, shape, device):
    check_op(fn, shape, low=low, high=high, device=device)


BINARY = [
    ("add", lambda x, y: x + y, -2, 2),
    ("sub", lambda x, y: x - y, -2, 2),
    ("mul", lambda x, y: x * y, -2, 2),
    ("div", lambda x, y: x / y, 0.5, 2),
    ("pow", lambda x, y: x ** y, 0.5, 2),
    ("maximum", lambda x, y: lib(x).maximum(x, y), -2, 2),
    ("minimum", lambda x, y: lib(x).minimum(x, y), -2, 2),
    ("add_alpha", lambda x, y: lib(x).add(x, y, alpha=2.5), -2, 2),
    ("sub_alpha", lambda x, y: lib(x).sub(x, y, alpha=0.5), -2, 2),
    ("atan2_like", lambda x, y: (x * y).sin() / (1 + y * y), -2, 2),
    ("where", lambda x, y: lib(x).where(x > 0, x, y), -2, 2),
    ("clamp_tensors", lambda x, y: x.clamp(min=y), -2, 2),
    ("clamp_max_tensor", lambda x, y: x.clamp(max=y), -2, 2),
    ("lerp", lambda x, y: lib(x).lerp(x, y, 0.3), -2, 2),
    ("remainder", lambda x, y: x % y, 0.5, 2),
    ("atan2", lambda x, y: lib(x).atan2(x, y), -2, 2),
    ("arctan2_method", lambda x, y: x.arctan2(y), -2, 2),
    ("hypot", lambda x, y: lib(x).hypot(x, y), -2, 2),
]

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (3, 2)),
               ((4,), ()), ((1,), (2, 3)), ((2, 1, 3), (4, 1))]


@pytest.mark.parametrize("name,fn,low,high", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=[f"{a}-{b}" for a, b in SHAPE_PAIRS])
def test_binary_broadcast(name, fn, low, high, shapes, device):
    check_op(fn, *shapes, low=low, high=high, device=device)


def test_ternary_ops(device):
    check_op(lambda x, y, z: lib(x).addcmul(x, y, z, value=0.5), (3, 4), (4,), (3, 1), device=device)
    check_op(lambda x, y, z: lib(x).addcdiv(x, y, z, value=2), (3, 4), (4,), (3, 1), low=0.5, high=2,
             device=device)
    check_op(lambda x, lo, hi: x.clamp(lo, hi), (3, 4), (4,), (3, 1), low=-2, high=2, device=device)
    check_op(lambda x, y, w: lib(x).lerp(x, y, w), (3, 4), (3, 4), (4,), device=device)


def test_fmod_and_remainder_signs(device):
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (3, 4))
    y = rng.uniform(0.5, 2, (4,)) * np.array([1, -1, 1, -1])
    check_op(lambda a, b: lib(a).fmod(a, b), x, y, device=device)
    check_op(lambda a, b: a.remainder(b), x, y, device=device)
    check_op(lambda a: a.fmod(-1.5), x, device=device)
    assert gpunet.tensor([-3.0, 3.0], device=device).fmod(2).tolist() == [-1.0, 1.0]  # sign of the dividend
    assert gpunet.tensor([-3.0, 3.0], device=device).remainder(2).tolist() == [1.0, 1.0]  # divisor's sign
    assert gpunet.tensor([-3, 3], device=device).fmod(-2).tolist() == [-1, 1]


def test_masked_fill_and_where_grads(device):
    mask = np.array([[True, False, True, False]] * 3)
    check_op(lambda x, m: x.masked_fill(m, 0.5), (3, 4), mask, device=device)
    check_op(lambda x, m: x.masked_fill(m, float("-inf")).exp(), (3, 4), mask, device=device)
    check_op(lambda x, y, m: lib(x).where(m, x, y), (3, 4), (1, 4), mask, device=device)
    check_op(lambda x, m: lib(x).where(m, x, 0.0), (3, 4), mask, device=device)


# ---- property test: every binary op over random broadcastable shape pairs ---------------------------
PROPERTY_OPS = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": lambda x, y: x ** y,
    "maximum": lambda x, y: lib(x).maximum(x, y), "minimum": lambda x, y: lib(x).minimum(x, y),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3),
       op=st.sampled_from(sorted(PROPERTY_OPS)), seed=st.integers(0, 2 ** 16))
def test_binary_broadcast_property(shapes, op, seed, device):
    """grad.shape == input.shape and the values match finite differences (and torch where installed)."""
    a, b = shapes.input_shapes
    check_op(PROPERTY_OPS[op], a, b, low=0.5, high=2.0, seed=seed, device=device)


# ---- values and edge cases ------------------------------------------------------------------------
def test_sigmoid_extremes_are_finite(device):
    x = gpunet.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True, device=device)
    y = x.sigmoid()
    np.testing.assert_allclose(y.detach().cpu().numpy(), [0.0, 1.9287498e-22, 0.5, 1.0, 1.0], rtol=1e-6)
    y.sum().backward()
    assert np.isfinite(x.grad.cpu().numpy()).all()


def test_pow_zero_base_and_exponent_grads(device):
    x = gpunet.tensor([0.0, 2.0], dtype=gpunet.float64, requires_grad=True, device=device)
    e = gpunet.tensor([0.0, 3.0], dtype=gpunet.float64, requires_grad=True, device=device)
    (x ** e).sum().backward()
    assert x.grad.tolist() == [0.0, 12.0]  # d/dx x**0 at x=0 is 0, as torch
    assert e.grad[1].item() == pytest.approx(8 * np.log(2))
    assert e.grad[0].item() == 0.0


def test_relu_grad_at_zero_is_zero(device):
    x = gpunet.tensor([-1.0, 0.0, 1.0], requires_grad=True, device=device)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_abs_grad_at_zero_is_zero(device):
    x = gpunet.tensor([-1.0, 0.0, 1.0], requires_grad=True, device=device)
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_maximum_tie_splits_gradient(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = gpunet.tensor([1.0, 1.0], requires_grad=True, device=device)
    gpunet.maximum(x, y).sum().backward()
    assert x.grad.tolist() == [0.5, 1.0] and y.grad.tolist() == [0.5, 0.0]


def test_clamp_grad_at_boundary_passes(device):
    x = gpunet.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], requires_grad=True, device=device)
    x.clamp(0.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # torch passes the grad at min/max


def test_integer_arithmetic_values(device):
    a = gpunet.tensor([7, -7, 5], device=device)
    b = gpunet.tensor([2, 2, -3], device=device)
    assert (a // b).tolist() == [3, -4, -2]  # floor division, as Python and torch
    assert (a % b).tolist() == [1, 1, -1]  # sign of the divisor
    assert (a * b).tolist() == [14, -14, -15]
    assert (a / b).tolist() == pytest.approx([3.5, -3.5, -5 / 3])
    assert (a ** 2).tolist() == [49, 49, 25]
    assert (-a).tolist() == [-7, 7, -5]
    assert a.abs().tolist() == [7, 7, 5]
    assert lib(a).div(a, b, rounding_mode="trunc").tolist() == [3, -3, -1]
    assert lib(a).div(a, b, rounding_mode="floor").tolist() == [3, -4, -2]


def test_reflected_and_floor_ops_match_torch(device):
    torch = pytest.importorskip("torch")
    on_device = SimpleNamespace(tensor=partial(gpunet.tensor, device=device), where=gpunet.where,
                                arange=partial(gpunet.arange, device=device))
    exprs = ["7 // M.arange(1, 4)", "7.5 // M.arange(1.0, 4.0)", "7 % M.arange(1, 4)",
             "-7.5 % M.arange(1.0, 4.0)", "M.tensor([-7.5, 7.5]) % -2", "M.tensor([-7, 7]) % -2",
             "M.tensor([-7, 7]) // -2",
             "M.arange(6.0) // 4", "2 ** M.tensor([1, 2])", "M.tensor([2, 3]) ** M.tensor([2, 3])",
             "M.tensor([2.0, 3.0]) ** M.tensor([2, 3])", "M.tensor([2, 3]) ** 0.5", "M.tensor([2, 3]) ** 2.0",
             "M.tensor([1.0, 2.0]) ** np.float64(2.0)", "M.tensor([1, 2]) + M.tensor([True, False])",
             "M.tensor([1, 2]) * True", "M.tensor([1, 2, 3]).reciprocal()", "M.tensor([1, 4]).sqrt()",
             "M.tensor([-1, 2, 3]).clamp_min(0)", "M.arange(6).clamp(1.5, 3)", "M.tensor([1, 2]).exp()",
             "M.where(M.tensor([True, False]), 1.0, 0.0)", "M.where(M.tensor([True, False]), 1, 2)",
             "M.where(M.tensor([True, False]), M.tensor(1), 2.5)",
             "M.tensor([3.0, 1.0]).maximum(M.tensor([float('nan'), 0.0]))"]
    for e in exprs:
        mine, ref = eval(e, {"M": on_device, "np": np}), eval(e, {"M": torch, "np": np})
        assert str(mine.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], e
        np.testing.assert_allclose(np.asarray(mine.tolist(), dtype=float),
                                   np.asarray(ref.tolist(), dtype=float), rtol=1e-6, err_msg=e)


def test_integer_pow_negative_raises(device):
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        gpunet.tensor([1, 2], device=device) ** -1


def test_comparisons_return_bool(device):
    a = gpunet.tensor([1.0, 2.0, 3.0], device=device)
    b = gpunet.tensor([3.0, 2.0, 1.0], device=device)
    for op, expected in [(a < b, [True, False, False]), (a <= b, [True, True, False]),
                         (a > b, [False, False, True]), (a >= b, [False, True, True]),
                         (a == b, [False, True, False]), (a != b, [True, False, True]),
                         (a > 1.5, [False, True, True]), (2 < a, [False, False, True]),
                         (a == 2, [False, True, False])]:
        assert op.dtype == gpunet.bool
        assert op.tolist() == expected
    assert not (a < b).requires_grad


def test_logical_ops(device):
    p = gpunet.tensor([True, True, False, False], device=device)
    q = gpunet.tensor([True, False, True, False], device=device)
    assert (p & q).tolist() == [True, False, False, False]
    assert (p | q).tolist() == [True, True, True, False]
    assert (p ^ q).tolist() == [False, True, True, False]
    assert (~p).tolist() == [False, False, True, True]
    assert gpunet.logical_not(gpunet.tensor([0.0, 2.0], device=device)).tolist() == [True, False]


def test_isnan_isinf_isfinite(device):
    x = gpunet.tensor([1.0, float("nan"), float("inf"), float("-inf")], device=device)
    assert x.isnan().tolist() == [False, True, False, False]
    assert x.isinf().tolist() == [False, False, True, True]
    assert x.isfinite().tolist() == [True, False, False, False]


def test_bad_operand_type_raises(device):
    with pytest.raises(TypeError):
        gpunet.tensor([1.0], device=device) + "a"


def test_clamp_requires_a_bound(device):
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        gpunet.tensor([1.0], device=device).clamp()


def test_elementwise_torch_parity_float32(device):
    """float32 forward values track torch's to float32 precision (gradcheck is float64-only)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2, (5, 6)).astype(np.float32)
    for name in ("exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "sin", "cos", "erf", "log1p", "expm1"):
        mine = getattr(gpunet.tensor(a, device=device), name)()
        ref = getattr(torch.tensor(a), name)()
        assert mine.dtype == gpunet.float32, name
        np.testing.assert_allclose(mine.cpu().numpy(), ref.numpy(), rtol=2e-6, atol=1e-6, err_msg=name)


def test_trigonometric_functions_of_integers_and_numbers_and_in_place():
    """Integer inputs give the default float dtype (as PyTorch's); atan2 and hypot take a Python number on
    either side; the in-place forms change the tensor."""
    i = gpunet.tensor([0, 1, -1])
    for name in ("asin", "atan", "sinh", "cosh", "asinh", "atanh", "exp2", "deg2rad", "logit"):
        assert getattr(gpunet, name)(i).dtype == gpunet.float32, name
    np.testing.assert_allclose(gpunet.atan2(i, 2).numpy(), np.arctan2([0, 1, -1], 2), rtol=1e-6)
    np.testing.assert_allclose(gpunet.hypot(3.0, gpunet.tensor([4.0])).numpy(), [5.0])
    x = gpunet.tensor([0.5, -0.25])
    x.atan_()
    np.testing.assert_allclose(x.numpy(), np.arctan([0.5, -0.25]), rtol=1e-6)
    assert gpunet.sgn(gpunet.tensor([-2.0, 0.0, 3.0])).tolist() == [-1.0, 0.0, 1.0]
