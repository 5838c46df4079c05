"""dtypes and PyTorch's type promotion: every dtype pair and scalar kind vs torch.result_type."""
import itertools

import numpy as np
import pytest

import gpunet
from gpunet import dtypes

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5]


def _make(name, zero_dim, device):
    d = getattr(gpunet, name)
    return gpunet.ones((), dtype=d, device=device) if zero_dim else gpunet.ones(2, dtype=d, device=device)


# the table PyTorch documents, written out so the test has teeth without torch installed
EXPECTED = {
    ("uint8", "int8"): "int16", ("bool", "bool"): "bool", ("bool", "int32"): "int32",
    ("int32", "int64"): "int64", ("int64", "float16"): "float16", ("float16", "float32"): "float32",
    ("uint8", "float16"): "float16", ("int8", "int16"): "int16", ("uint8", "int64"): "int64",
    ("float32", "float64"): "float64", ("bool", "float16"): "float16",
}


@pytest.mark.parametrize("a,b", sorted(EXPECTED))
def test_documented_pairs(a, b, device):
    assert (_make(a, False, device) + _make(b, False, device)).dtype.name == EXPECTED[(a, b)]
    assert (_make(b, False, device) + _make(a, False, device)).dtype.name == EXPECTED[(a, b)]


def test_issue_examples(device):
    f32 = gpunet.ones(3, device=device)
    i64 = gpunet.tensor([1, 2, 3], device=device)
    assert (f32 * 2.5).dtype == gpunet.float32  # a Python float never upcasts
    assert (f32 / 10).dtype == gpunet.float32
    assert (i64 / i64).dtype == gpunet.float32  # true division of ints -> default float
    assert (i64 + 2.5).dtype == gpunet.float32
    assert (i64 * 2).dtype == gpunet.int64
    f64_0d = gpunet.tensor(2.0, dtype=gpunet.float64, device=device)
    assert (f32 * f64_0d).dtype == gpunet.float32  # 0-d is weaker
    assert (gpunet.tensor([True], device=device) + gpunet.tensor([False], device=device)).dtype == gpunet.bool
    u8 = gpunet.ones(2, dtype=gpunet.uint8, device=device)
    assert (u8 + gpunet.ones(2, dtype=gpunet.int8, device=device)).dtype == gpunet.int16
    assert (f32 * np.float64(2.0)).dtype == gpunet.float32  # NumPy scalars are weak like Python ones
    assert (np.float64(2.0) * f32).dtype == gpunet.float32
    assert sum([f32, f32]).dtype == gpunet.float32  # Python sum starts at int 0
    assert gpunet.tensor([1, 2], device=device).sum().dtype == gpunet.int64
    assert gpunet.tensor([True, False], device=device).sum().dtype == gpunet.int64
    i32 = gpunet.tensor([1, 2], dtype=gpunet.int32, device=device)
    assert i32.mean(dtype=gpunet.float64).dtype == gpunet.float64


def test_default_dtype_switch(device):
    assert gpunet.get_default_dtype() == gpunet.float32
    try:
        gpunet.set_default_dtype(gpunet.float64)
        assert gpunet.tensor([1.0], device=device).dtype == gpunet.float64
        assert gpunet.zeros(2, device=device).dtype == gpunet.float64
        assert (gpunet.tensor([1, 2], device=device) / 2).dtype == gpunet.float64
        with pytest.raises(TypeError):
            gpunet.set_default_dtype(gpunet.int64)
    finally:
        gpunet.set_default_dtype(gpunet.float32)
    assert gpunet.tensor([1.0], device=device).dtype == gpunet.float32


def test_dtype_objects():
    assert gpunet.float is gpunet.float32 and gpunet.double is gpunet.float64 and gpunet.long is gpunet.int64
    assert gpunet.half is gpunet.float16 and gpunet.int is gpunet.int32 and gpunet.short is gpunet.int16
    assert repr(gpunet.float32) == "gpunet.float32"
    assert gpunet.float32.is_floating_point and not gpunet.int64.is_floating_point
    assert gpunet.float16.itemsize == 2
    assert dtypes.to_dtype("float64") is gpunet.float64
    assert dtypes.to_dtype(np.int32) is gpunet.int32
    assert dtypes.to_dtype(float) is gpunet.float32 and dtypes.to_dtype(int) is gpunet.int64
    import pickle
    assert pickle.loads(pickle.dumps(gpunet.int16)) is gpunet.int16
    with pytest.raises(TypeError, match="no dtype for NumPy dtype"):
        dtypes.from_numpy_dtype(np.complex64)


# ---- against torch: every pair, 0-d vs dimensioned, and Python scalars -----------------------------
def _torch_make(torch, name, zero_dim):
    d = getattr(torch, name)
    return torch.ones((), dtype=d) if zero_dim else torch.ones(2, dtype=d)


@pytest.mark.parametrize("za,zb", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["nd-nd", "nd-0d", "0d-nd", "0d-0d"])
def test_tensor_pairs_match_torch(za, zb, device):
    torch = pytest.importorskip("torch")
    bad = []
    for a, b in itertools.product(NAMES, NAMES):
        ga, gb = _make(a, za, device), _make(b, zb, device)
        ta, tb = _torch_make(torch, a, za), _torch_make(torch, b, zb)
        want = str(torch.result_type(ta, tb)).replace("torch.", "")
        got = dtypes.result_type(ga, gb).name
        add = (ga + gb).dtype.name
        mul = (ga * gb).dtype.name
        if not (got == add == mul == want):
            bad.append((a, b, got, add, mul, want))
        want_div = str((ta / tb).dtype).replace("torch.", "")
        if (ga / gb).dtype.name != want_div:
            bad.append(("div", a, b, (ga / gb).dtype.name, want_div))
        if (ga < gb).dtype is not gpunet.bool or (ga == gb).dtype is not gpunet.bool:
            bad.append(("cmp", a, b))
    assert not bad, bad


@pytest.mark.parametrize("zero_dim", [False, True], ids=["nd", "0d"])
def test_tensor_scalar_pairs_match_torch(zero_dim, device):
    torch = pytest.importorskip("torch")
    bad = []
    for a, s in itertools.product(NAMES, SCALARS):
        ga, ta = _make(a, zero_dim, device), _torch_make(torch, a, zero_dim)
        want = str(torch.result_type(ta, s)).replace("torch.", "")
        for got in (dtypes.result_type(ga, s).name, (ga + s).dtype.name, (s + ga).dtype.name,
                    (ga * s).dtype.name, (s * ga).dtype.name):
            if got != want:
                bad.append((a, s, got, want))
        if a != "bool" and s is not True:  # torch refuses subtraction with a bool operand
            want_sub = str((ta - s).dtype).replace("torch.", "")
            if (ga - s).dtype.name != want_sub or (s - ga).dtype.name != want_sub:
                bad.append(("sub", a, s, (ga - s).dtype.name, (s - ga).dtype.name, want_sub))
        want_div = str((ta / s).dtype).replace("torch.", "")
        if (ga / s).dtype.name != want_div or (s / ga).dtype.name != want_div:
            bad.append(("div", a, s, (ga / s).dtype.name, (s / ga).dtype.name, want_div))
    assert not bad, bad


def test_scalar_scalar_result_type():
    expected = {(True, True): "bool", (True, 3): "int64", (3, 3): "int64", (3, 2.5): "float32",
                (True, 2.5): "float32", (2.5, 2.5): "float32"}
    for (a, b), want in expected.items():
        assert dtypes.result_type(a, b).name == want, (a, b)
        assert dtypes.result_type(b, a).name == want, (b, a)


def test_bool_subtraction_is_refused(device):
    with pytest.raises((RuntimeError, TypeError)):
        gpunet.tensor([True], device=device) - gpunet.tensor([False], device=device)


def test_binary_op_values_keep_precision_of_result_dtype(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for a, b in [("float16", "float32"), ("int8", "uint8"), ("int32", "float16"), ("uint8", "int64")]:
        x = (rng.uniform(1, 5, 4)).astype(a)
        y = (rng.uniform(1, 5, 4)).astype(b)
        for op in ("__add__", "__mul__", "__sub__", "__truediv__"):
            mine = getattr(gpunet.tensor(x, device=device), op)(gpunet.tensor(y, device=device))
            ref = getattr(torch.tensor(x), op)(torch.tensor(y))
            assert mine.dtype.name == str(ref.dtype).replace("torch.", ""), (a, b, op)
            np.testing.assert_allclose(mine.cpu().numpy().astype(np.float64), ref.numpy().astype(np.float64),
                                       rtol=1e-3, err_msg=f"{a} {op} {b}")


def test_where_and_cat_promote(device):
    f16 = gpunet.ones(2, dtype=gpunet.float16, device=device)
    i64 = gpunet.ones(2, dtype=gpunet.int64, device=device)
    f64 = gpunet.ones(2, dtype=gpunet.float64, device=device)
    assert gpunet.cat([i64, f16]).dtype == gpunet.float16
    assert gpunet.cat([f16, f64]).dtype == gpunet.float64
    assert gpunet.where(gpunet.tensor([True, False], device=device), i64, f16).dtype == gpunet.float16
    f32 = gpunet.ones(2, device=device)
    assert gpunet.where(gpunet.tensor([True, False], device=device), f32, 0).dtype == gpunet.float32
    assert gpunet.maximum(i64, f16).dtype == gpunet.float16


def test_casts(device):
    x = gpunet.tensor([1.7, -2.2, 0.0], device=device)
    assert x.long().tolist() == [1, -2, 0] and x.long().dtype == gpunet.int64
    assert x.int().dtype == gpunet.int32 and x.short().dtype == gpunet.int16
    assert x.bool().tolist() == [True, True, False]
    assert x.half().dtype == gpunet.float16 and x.double().dtype == gpunet.float64
    assert x.double().float().dtype == gpunet.float32
    assert x.byte().dtype == gpunet.uint8 and x.char().dtype == gpunet.int8
    assert x.to(gpunet.float64).dtype == gpunet.float64
    assert x.to(device, gpunet.int64).dtype == gpunet.int64
    assert x.to(dtype=gpunet.float16).dtype == gpunet.float16
    assert x.to(gpunet.ones(1, dtype=gpunet.int16, device=device)).dtype == gpunet.int16
    assert x.type(gpunet.float64).dtype == gpunet.float64
    prefix = "torch." if device == "cpu" else "torch.cuda."
    assert x.type() == prefix + "FloatTensor" and x.long().type() == prefix + "LongTensor"
    assert x.type(prefix + "DoubleTensor").dtype == gpunet.float64
    assert x.type_as(gpunet.ones(1, dtype=gpunet.int32, device=device)).dtype == gpunet.int32
    assert x.to(gpunet.float32) is x  # no-op cast returns self, as torch
    assert x.to(gpunet.float32, copy=True) is not x


def test_cast_is_differentiable(device):
    x = gpunet.tensor([1.5, 2.5], requires_grad=True, device=device)
    y = x.double() * 2
    assert y.dtype == gpunet.float64
    y.sum().backward()
    assert x.grad.dtype == gpunet.float32 and x.grad.tolist() == [2.0, 2.0]
    assert not x.long().requires_grad


def test_float16_arithmetic(device):
    x = gpunet.tensor([1.0, 2.0], dtype=gpunet.float16, requires_grad=True, device=device)
    y = (x * 3 + 1).sum()
    assert y.dtype == gpunet.float16
    y.backward()
    assert x.grad.dtype == gpunet.float16 and x.grad.tolist() == [3.0, 3.0]
