"""nn.init: statistics of every initialiser, fan/gain formulas (vs PyTorch), errors, devices, seeding."""

import math

import numpy as np
import pytest

import gpunet
from gpunet.nn import init
from gpunet.nn.parameter import Parameter


def host(t):
    return t.detach().cpu().numpy().astype(np.float64)


BIG = (256, 512)  # 131k samples: the sample std of the mean is < 0.3% of std


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for nl, p in [
        ("linear", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.3),
        ("selu", None),
        ("conv_transpose3d", None),
    ]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))


@pytest.mark.parametrize("shape", [(3, 5), (4, 3, 2), (8, 4, 3, 3), (2, 6, 1, 2, 3)])
def test_fans(shape):
    receptive = int(np.prod(shape[2:]))
    assert init._calculate_fan_in_and_fan_out(gpunet.empty(*shape)) == (
        shape[1] * receptive,
        shape[0] * receptive,
    )
    torch = pytest.importorskip("torch")
    assert init._calculate_fan_in_and_fan_out(
        gpunet.empty(*shape)
    ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fan_errors():
    with pytest.raises(
        ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    ):
        init.xavier_uniform_(gpunet.empty(5))
    with pytest.raises(
        ValueError, match="Mode fan_avg not supported, please use one of \\['fan_in', 'fan_out'\\]"
    ):
        init.kaiming_uniform_(gpunet.empty(3, 3), mode="fan_avg")


def test_uniform_normal_constant(device):
    t = gpunet.empty(*BIG, device=device)
    assert init.uniform_(t, -2.0, 3.0) is t
    a = host(t)
    assert (
        a.min() >= -2
        and a.max() < 3
        and abs(a.mean() - 0.5) < 0.03
        and abs(a.std() - 5 / math.sqrt(12)) < 0.02
    )
    init.normal_(t, 1.0, 2.0)
    a = host(t)
    assert abs(a.mean() - 1) < 0.03 and abs(a.std() - 2) < 0.02
    small = gpunet.empty(3, 4, device=device)
    assert (host(init.constant_(small, 0.5)) == 0.5).all()
    assert (host(init.ones_(small)) == 1).all() and (host(init.zeros_(small)) == 0).all()
    assert small.device.type == device
    init.uniform_(small, 5, 6)
    assert small.device.type == device and (host(small) >= 5).all()


def test_works_on_parameters_that_require_grad(device):
    p = Parameter(gpunet.empty(4, 3, device=device))
    init.kaiming_uniform_(p, a=math.sqrt(5))  # what Linear.reset_parameters does
    init.trunc_normal_(p, std=0.02)
    init.xavier_normal_(p)
    init.orthogonal_(p)
    init.zeros_(p)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None and p.device.type == device


@pytest.mark.parametrize(
    "mode, nonlinearity, a",
    [
        ("fan_in", "leaky_relu", 0),
        ("fan_out", "relu", 0),
        ("fan_in", "leaky_relu", math.sqrt(5)),
        ("fan_in", "tanh", 0),
    ],
)
def test_kaiming(mode, nonlinearity, a, device):
    t = gpunet.empty(256, 128, 2, 2, device=device)
    fan = 128 * 4 if mode == "fan_in" else 256 * 4
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    v = host(t)
    bound = math.sqrt(3) * std
    assert (
        v.max() <= bound
        and v.min() >= -bound
        and abs(v.std() / std - 1) < 0.02
        and abs(v.mean()) < 0.02 * std
    )
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    v = host(t)
    assert abs(v.std() / std - 1) < 0.02 and abs(v.mean()) < 0.02 * std


def test_kaiming_zero_element_warns(device):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(gpunet.empty(0, 3, device=device))


def test_xavier(device):
    t = gpunet.empty(*BIG, device=device)
    std = 2.0 * math.sqrt(2 / (BIG[0] + BIG[1]))
    init.xavier_uniform_(t, gain=2.0)
    v = host(t)
    assert abs(v).max() <= math.sqrt(3) * std and abs(v.std() / std - 1) < 0.02
    init.xavier_normal_(t, gain=2.0)
    v = host(t)
    assert abs(v.std() / std - 1) < 0.02 and abs(v.mean()) < 0.02 * std


def test_trunc_normal(device):
    t = gpunet.empty(*BIG, device=device)
    init.trunc_normal_(t, mean=1.0, std=2.0, a=-1.0, b=4.0)
    assert t.device.type == device
    v = host(t)
    assert v.min() >= -1 and v.max() <= 4
    # moments of the truncated normal N(1, 2^2) on [-1, 4]
    from math import erf, exp, pi, sqrt

    alpha, beta = (-1 - 1) / 2, (4 - 1) / 2

    def phi(x):
        return exp(-x * x / 2) / sqrt(2 * pi)

    def Phi(x):  # the usual name of the normal CDF
        return (1 + erf(x / sqrt(2))) / 2

    z = Phi(beta) - Phi(alpha)
    mean = 1 + 2 * (phi(alpha) - phi(beta)) / z
    var = 4 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / z - ((phi(alpha) - phi(beta)) / z) ** 2)
    assert abs(v.mean() - mean) < 0.02 and abs(v.std() - sqrt(var)) < 0.02
    std_normal = host(init.trunc_normal_(gpunet.empty(*BIG, device=device)))
    assert abs(std_normal).max() <= 2 and abs(std_normal.std() - 0.8796) < 0.01  # std of N(0,1) cut at +-2
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        init.trunc_normal_(gpunet.empty(3, device=device), mean=10.0)


@pytest.mark.parametrize("shape", [(6, 6), (3, 8), (8, 3), (4, 2, 3, 3)])
def test_orthogonal(shape, device):
    t = init.orthogonal_(gpunet.empty(*shape, device=device), gain=1.5)
    assert t.device.type == device
    m = host(t).reshape(shape[0], -1)
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(small, 1.5**2 * np.eye(small.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(gpunet.empty(3, device=device))


def test_eye_dirac(device):
    e = init.eye_(gpunet.empty(2, 3, device=device))
    assert host(e).tolist() == [[1, 0, 0], [0, 1, 0]]
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(gpunet.empty(2, 2, 2, device=device))
    w = init.dirac_(gpunet.empty(4, 2, 3, device=device), groups=2)
    x = np.random.default_rng(0).standard_normal((1, 4, 7))
    # a Dirac conv1d weight (padding 1) is the identity per group: out[g*2 + d] == in[g*2 + d] for d < 2
    out = np.stack(
        [
            sum(np.convolve(x[0, (o // 2) * 2 + i], host(w)[o, i][::-1], mode="same") for i in range(2))
            for o in range(4)
        ]
    )
    np.testing.assert_allclose(out, x[0], atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(gpunet.empty(2, 2, device=device))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(gpunet.empty(3, 2, 3, device=device), groups=2)


def test_sparse(device):
    t = init.sparse_(gpunet.empty(10, 20, device=device), sparsity=0.3, std=0.5)
    v = host(t)
    assert ((v == 0).sum(axis=0) >= 3).all()
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.sparse_(gpunet.empty(2, 2, 2, device=device), 0.1)


def test_manual_seed_reproducible(device):
    def draw():
        t = gpunet.empty(3, 4, device=device)
        init.kaiming_uniform_(t)
        init.normal_(t, 0.0, 1.0)
        return host(t)

    gpunet.manual_seed(123)
    first = draw()
    gpunet.manual_seed(123)
    assert np.array_equal(first, draw())
    assert not np.array_equal(first, draw())
    g = gpunet.Generator().manual_seed(7)
    a = host(init.uniform_(gpunet.empty(4), generator=g))
    b = host(init.uniform_(gpunet.empty(4), generator=gpunet.Generator().manual_seed(7)))
    assert np.array_equal(a, b)


def test_float64_and_float16(device):
    t = init.xavier_uniform_(gpunet.empty(64, 64, dtype=gpunet.float64, device=device))
    assert t.dtype == gpunet.float64
    h = init.trunc_normal_(gpunet.empty(64, 64, dtype=gpunet.float16, device=device))
    assert h.dtype == gpunet.float16 and np.isfinite(host(h)).all() and abs(host(h)).max() <= 2
