"""kernels.cpu / kernels.cuda relu and relu_backward: PyTorch's values at zero, NaN and infinities, every
dtype and layout (the CPU loop takes contiguous float32/float64, NumPy the rest)."""
import numpy as np
import pytest

import kernels.cpu
import kernels.cuda

EDGES = [-1.0, -0.0, 0.0, 2.5, np.nan, -np.inf, np.inf, 1e-30]


def _host(K, a):
    return K.xp.asnumpy(a) if K is kernels.cuda else a


def _tables():
    tables = [kernels.cpu]
    if kernels.cuda.available():
        tables.append(kernels.cuda)
    return tables


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_relu_and_its_backward_at_the_edges(K, dtype):
    x = np.array(EDGES, dtype=dtype)
    out = K.relu(K.xp.asarray(x))
    expected = np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0)).astype(dtype)
    np.testing.assert_array_equal(_host(K, out), expected)
    assert out.dtype == dtype
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.inf, -7.0], dtype=dtype)
    grad = K.relu_backward(K.xp.asarray(g), out)
    # grad where out > 0 (2.5, inf, 1e-30 in float32/64), 0 elsewhere: NaN outputs and inf grads give no NaN
    np.testing.assert_array_equal(_host(K, grad), np.where(expected > 0, g, 0).astype(dtype))


@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed", "int64"])
def test_relu_matches_numpy_in_every_layout(layout):
    a = np.random.default_rng(0).standard_normal((6, 7, 5))
    a = {"contiguous": a.astype(np.float32), "strided": a[:, ::2], "transposed": a.transpose(2, 0, 1),
         "int64": (a * 10).astype(np.int64)}[layout]
    out = kernels.cpu.relu(a)
    np.testing.assert_array_equal(out, np.maximum(a, 0))
    assert out.shape == a.shape and out.dtype == a.dtype
    if a.dtype.kind == "f":
        g = np.random.default_rng(1).standard_normal(a.shape).astype(a.dtype)
        np.testing.assert_array_equal(kernels.cpu.relu_backward(g, out), g * (out > 0))
