"""kernels.cpu's depthwise conv2d loops (kernels/cpu/_conv_depthwise.py: groups == input channels == output
channels, stride 1): forward, input, weight and bias gradients give im2col + GEMM's numbers; other layers
keep the other paths."""
import numpy as np
import pytest

import kernels.cpu as KC
from kernels import _conv_im2col as conv_impl
from kernels._conv_shapes import conv2d_geometry
from kernels.cpu import _conv_depthwise as depthwise
from kernels.cpu import conv as cpu_conv

CASES = [((2, 5, 9, 11), (3, 3), (1, 1)), ((3, 4, 8, 8), (7, 7), (3, 3)), ((2, 3, 6, 10), (1, 3), (0, 1)),
         ((1, 6, 7, 5), (3, 3), (0, 0)), ((2, 2, 12, 12), (5, 5), (2, 1))]
TOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.mark.parametrize("threads", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,k,pad", CASES, ids=[f"{s}-k{k}-p{p}" for s, k, p in CASES])
def test_depthwise_equals_im2col(shape, k, pad, dtype, threads, monkeypatch):
    from kernels.cpu import _serial
    monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", 1 << 40 if threads == "serial" else 0)
    rng = np.random.default_rng(31)
    C = shape[1]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C, 1) + k).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    args = ((1, 1), pad, (1, 1), C)
    g = conv2d_geometry("test", x, w, b, *args)
    assert cpu_conv._fast_path(g, x, w, b) is depthwise
    tol = TOL[dtype]
    for bias in (b, None):
        np.testing.assert_allclose(KC.conv2d_forward(x, w, bias, *args),
                                   conv_impl.checked_forward(cpu_conv._CPU, x, w, bias, g, False),
                                   rtol=tol, atol=tol)
    gy = rng.standard_normal((shape[0], C, g.Ho, g.Wo)).astype(dtype)
    for needs in [(True, True, True), (True, False, False), (False, True, False), (False, False, True)]:
        got = KC.conv2d_backward(gy, x, w, *args, needs)
        want = conv_impl.checked_backward(cpu_conv._CPU, gy, x, w, g, needs, None)
        for name, a, r in zip(("x", "w", "b"), got, want):
            if r is None:
                assert a is None, name
                continue
            assert a.shape == r.shape and a.dtype == dtype, name
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol * 20, err_msg=f"grad {name} {needs}")


def test_other_grouped_layers_keep_the_other_paths():
    x = np.zeros((2, 4, 8, 8), np.float32)
    for w, args in [(np.zeros((8, 1, 3, 3), np.float32), ((1, 1), (1, 1), (1, 1), 4)),  # channel multiplier 2
                    (np.zeros((4, 2, 3, 3), np.float32), ((1, 1), (1, 1), (1, 1), 2)),  # two channels a group
                    (np.zeros((4, 1, 3, 3), np.float32), ((2, 2), (1, 1), (1, 1), 4)),  # stride 2
                    (np.zeros((4, 1, 3, 3), np.float32), ((1, 1), (3, 3), (1, 1), 4))]:  # padding past k - 1
        assert not depthwise.applies(conv2d_geometry("test", x, w, None, *args), x, w)
