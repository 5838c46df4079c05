"""kernels.cpu's add, sub, mul and div (kernels/cpu/arithmetic.py): NumPy's results bit for bit, on the
threaded loops for same-shape float arrays and for such an array with a Python number, NumPy's operator for
everything else."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels.cpu import arithmetic

OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


NUMBER_LOOPS = ("_add_number", "_number_sub", "_mul_number", "_div_number", "_number_div")


def _spy(monkeypatch, names=("_add", "_sub", "_mul", "_div")):
    """Count the threaded loops' calls (by default the four array-array loops)."""
    calls = []
    for name in names:
        loop = getattr(arithmetic, name)
        monkeypatch.setattr(arithmetic, name, lambda *a, _loop=loop: calls.append(a[0].size) or _loop(*a))
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(OPS))
def test_threaded_loop_equals_numpy_bit_for_bit(monkeypatch, op, dtype):
    """Large same-shape arrays (inf, NaN, zeros and signed zeros among them) take the threaded loop and
    give NumPy's bits; division by zero gives inf / NaN without raising."""
    rng = np.random.default_rng(40)
    a = rng.standard_normal((7, 3, 1024)).astype(dtype)
    b = rng.standard_normal((7, 3, 1024)).astype(dtype)
    a.flat[:6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0]
    b.flat[:6] = [1.0, np.inf, 2.0, 0.0, 0.0, -0.0]
    monkeypatch.setattr(arithmetic, "PARALLEL_FROM", 1024)
    calls = _spy(monkeypatch)
    with np.errstate(all="ignore"):
        want = OPS[op](a, b)
    got = getattr(KC, op)(a, b)
    assert calls == [a.size]
    assert got.dtype == dtype and got.shape == a.shape and got.flags.c_contiguous
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))  # NaN payloads and zero signs too


@pytest.mark.parametrize("op", sorted(OPS))
def test_everything_else_is_numpys_operator(monkeypatch, op):
    """Broadcasting, NumPy scalars, mixed and integer dtypes, non-contiguous and small arrays: NumPy's
    operator (its result dtype and values), never a loop."""
    calls = _spy(monkeypatch, ("_add", "_sub", "_mul", "_div") + NUMBER_LOOPS)
    rng = np.random.default_rng(41)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    cases = [(x, x[:1]), (x, np.float64(2.5)), (np.float64(2.5), x), (x, np.array(2.5)), (np.array(2.5), x),
             (x, x.astype(np.float64)),
             (x.astype(np.int64), x.astype(np.int64) + 1), (x.astype(np.int64), 3), (x, True),
             (x.T, x.T), (x[:, ::2], x[:, ::2]), (x[:, ::2], 2.5), (x[:1, :8], x[:1, :8]), (x[:1, :8], 2.5)]
    monkeypatch.setattr(arithmetic, "PARALLEL_FROM", 64)  # the last case has 8 elements
    for a, b in cases:
        with np.errstate(all="ignore"):  # the integer cases divide by zero
            want = OPS[op](a, b)
            got = getattr(KC, op)(a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert calls == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(OPS))
def test_array_and_number_equal_numpy_bit_for_bit(monkeypatch, op, dtype):
    """A large float array with a Python float or int, on either side, takes a threaded loop (the number
    cast to the array's dtype, as NumPy does) and gives NumPy's bits and dtype: inf, NaN, signed zeros
    and division by zero included."""
    rng = np.random.default_rng(42)
    a = rng.standard_normal((7, 3, 1024)).astype(dtype)
    a.flat[:6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0]
    monkeypatch.setattr(arithmetic, "PARALLEL_FROM", 1024)
    calls = _spy(monkeypatch, NUMBER_LOOPS)
    numbers = [0.1, -3, 0.0, -0.0, np.inf, 1e-40, np.array(0.7, dtype=dtype)]  # a 0-d array of the dtype
    for number in numbers:
        for left, right in ((a, number), (number, a)):
            with np.errstate(all="ignore"):
                want = OPS[op](left, right)
                got = getattr(KC, op)(left, right)
            assert got.dtype == want.dtype == dtype and got.shape == a.shape
            assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), (left is a, number)
    assert len(calls) == 2 * len(numbers)  # (a - s runs _add_number with -s)


def test_binary_ops_route_here(monkeypatch):
    """gpunet's +, -, * and / (forward and backward) call these kernels: same-shape float tensors take
    the loop, and the gradients are the analytic ones."""
    import gpunet

    monkeypatch.setattr(arithmetic, "PARALLEL_FROM", 16)
    calls = _spy(monkeypatch)
    a = gpunet.randn(4, 32, dtype=gpunet.float64, requires_grad=True)
    b = (gpunet.rand(4, 32, dtype=gpunet.float64) + 1).requires_grad_()
    ((a + b) * (a - b) / b).sum().backward()
    A, B = a.detach().numpy(), b.detach().numpy()
    np.testing.assert_allclose(a.grad.numpy(), 2 * A / B)
    np.testing.assert_allclose(b.grad.numpy(), -1 - A * A / (B * B))
    assert len(calls) >= 4 and set(calls) == {128}


def test_neg_equals_numpy_bit_for_bit(monkeypatch):
    """neg: the threaded loop for a large float array (signed zeros, inf, NaN: NumPy's bits), NumPy's
    operator for integers, views and small arrays; gpunet's -x and a - b's gradient for b come here."""
    import gpunet

    monkeypatch.setattr(arithmetic, "PARALLEL_FROM", 1024)
    calls = _spy(monkeypatch, ("_neg",))
    for dtype in (np.float32, np.float64):
        a = np.random.default_rng(43).standard_normal((3, 1024)).astype(dtype)
        a.flat[:5] = [np.inf, -np.inf, np.nan, 0.0, -0.0]
        got = KC.neg(a)
        assert got.dtype == dtype and np.array_equal(got.view(np.uint8), (-a).view(np.uint8))
    for a in (np.arange(-5, 3000), np.ones((3, 1024), np.float32)[:, ::2], np.ones(10, np.float32)):
        got = KC.neg(a)
        assert got.dtype == a.dtype and np.array_equal(got, -a)
    assert calls == [3072, 3072]
    a, b = gpunet.ones(4, 512, requires_grad=True), gpunet.ones(4, 512, requires_grad=True)
    (a - b).backward(gpunet.full((4, 512), 2.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((4, 512), -2.0, np.float32))
    assert (-a).detach().numpy()[0, 0] == -1 and len(calls) == 4
