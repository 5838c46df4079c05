"""autocast: which ops run in float16 and which in float32 (PyTorch's op reference), nesting, enabled=False,
the decorator form, threads, and the CPU refusals. CPU float16 autocast is compared with PyTorch's."""
import threading
import warnings

import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from tests.helpers import needs_torch

F16, F32, F64 = gpunet.float16, gpunet.float32, gpunet.float64


def _cuda():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    return "cuda"


def _x(*shape, device="cuda", dtype=F32, seed=0):
    return gpunet.tensor(np.random.default_rng(seed).uniform(-1, 1, shape), dtype=dtype, device=device)


LOWER_OPS = {
    "matmul": lambda a, b, c: a @ b,
    "mm": lambda a, b, c: gpunet.mm(a, b),
    "bmm": lambda a, b, c: gpunet.bmm(a.unsqueeze(0), b.unsqueeze(0)),
    "addmm": lambda a, b, c: gpunet.addmm(c, a, b),
    "baddbmm": lambda a, b, c: gpunet.baddbmm(c.unsqueeze(0), a.unsqueeze(0), b.unsqueeze(0)),
    "linear": lambda a, b, c: F.linear(a, b.T, c[0]),
    "einsum": lambda a, b, c: gpunet.einsum("ij,jk->ik", a, b),
    "conv2d": lambda a, b, c: F.conv2d(a.reshape(1, 1, 3, 4), b.reshape(2, 1, 2, 2)),
    "conv1d": lambda a, b, c: F.conv1d(a.reshape(1, 3, 4), b[:3].reshape(2, 3, 1)),
}
FP32_OPS = {
    "softmax": lambda h: gpunet.softmax(h, 1),
    "log_softmax": lambda h: F.log_softmax(h, 1),
    "exp": lambda h: h.exp(),
    "log": lambda h: h.abs().log(),
    "pow": lambda h: h ** 2,
    "sum": lambda h: h.sum(),
    "cumsum": lambda h: h.cumsum(1),
    "prod": lambda h: h.prod(),
    "norm": lambda h: h.norm(),
    "mse_loss": lambda h: F.mse_loss(h, h * 0.5),
    "l1_loss": lambda h: F.l1_loss(h, h * 0.5),
    "cross_entropy": lambda h: F.cross_entropy(h, gpunet.tensor([0, 1, 2], device=h.device)),
    "nll_loss": lambda h: F.nll_loss(h, gpunet.tensor([0, 1, 2], device=h.device)),
    "bce_with_logits": lambda h: F.binary_cross_entropy_with_logits(h, (h > 0).to(h.dtype)),
    "layer_norm": lambda h: F.layer_norm(h, (4,)),
    "group_norm": lambda h: F.group_norm(h.reshape(3, 4, 1), 2),
}


@pytest.mark.parametrize("name", sorted(LOWER_OPS))
def test_lower_precision_ops_run_in_float16(name):
    dev = _cuda()
    a, b, c = _x(3, 4), _x(4, 2, seed=1), _x(3, 2, seed=2)
    with gpunet.autocast(dev):
        out = LOWER_OPS[name](a, b, c)
    assert out.dtype == F16
    assert LOWER_OPS[name](a, b, c).dtype == F32  # outside the region: untouched


@pytest.mark.parametrize("name", sorted(FP32_OPS))
def test_float32_ops_run_in_float32(name):
    dev = _cuda()
    h = _x(3, 4, dtype=F16)
    with gpunet.autocast(dev):
        assert FP32_OPS[name](h).dtype == F32
    assert FP32_OPS[name](h).dtype == F16


def test_float64_and_other_devices_are_left_alone():
    dev = _cuda()
    with gpunet.autocast(dev):
        assert (_x(3, 4, dtype=F64) @ _x(4, 2, dtype=F64)).dtype == F64
        assert (_x(3, 4, device="cpu") @ _x(4, 2, device="cpu")).dtype == F32  # cuda autocast: cpu untouched
        assert gpunet.linalg.inv(_x(3, 3, dtype=F16) + 3 * gpunet.eye(3, device=dev, dtype=F16)).dtype == F32


def test_promote_ops_take_the_widest_type():
    dev = _cuda()
    with gpunet.autocast(dev):
        h, f = _x(3, dtype=F16), _x(3)
        assert gpunet.addcmul(h, f, h).dtype == F32
        assert gpunet.cat([h, f]).dtype == F32


def test_a_typical_forward_backward_in_autocast():
    dev = _cuda()
    model = gpunet.nn.Sequential(gpunet.nn.Linear(4, 8), gpunet.nn.ReLU(), gpunet.nn.Linear(8, 3)).to(dev)
    x, y = _x(5, 4), gpunet.tensor([0, 1, 2, 0, 1], device=dev)
    with gpunet.autocast(device_type=dev):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    assert logits.dtype == F16 and loss.dtype == F32
    loss.backward()
    assert all(p.grad.dtype == F32 for p in model.parameters())  # master weights stay float32


def test_nesting_enabled_false_and_state_queries():
    dev = _cuda()
    a, b = _x(3, 4), _x(4, 2)
    assert not gpunet.is_autocast_enabled()
    with gpunet.autocast(dev):
        assert gpunet.is_autocast_enabled() and gpunet.is_autocast_enabled("cuda")
        assert not gpunet.is_autocast_enabled("cpu")
        assert gpunet.get_autocast_dtype("cuda") == F16
        with gpunet.autocast(dev, enabled=False):
            assert (a @ b).dtype == F32 and not gpunet.is_autocast_enabled()
            with gpunet.amp.autocast(dev):
                assert (a @ b).dtype == F16
            assert (a @ b).dtype == F32
        assert (a @ b).dtype == F16
    assert not gpunet.is_autocast_enabled() and (a @ b).dtype == F32


def test_exception_inside_restores_the_state():
    dev = _cuda()
    with pytest.raises(ValueError):
        with gpunet.autocast(dev):
            raise ValueError
    assert not gpunet.is_autocast_enabled()


def test_decorator():
    dev = _cuda()

    @gpunet.autocast(dev)
    def forward(a, b):
        return a @ b

    assert forward(_x(3, 4), _x(4, 2)).dtype == F16
    assert not gpunet.is_autocast_enabled()


def test_state_is_per_thread():
    dev = _cuda()
    seen = []
    with gpunet.autocast(dev):
        t = threading.Thread(target=lambda: seen.append((_x(2, 2) @ _x(2, 2)).dtype))
        t.start()
        t.join()
    assert seen == [F32]


def test_cuda_amp_deprecated_aliases():
    _cuda()
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.autocast\(args...\)` is deprecated"):
        ctx = gpunet.cuda.amp.autocast()
    with ctx:
        assert (_x(2, 2) @ _x(2, 2)).dtype == F16
    with pytest.warns(FutureWarning, match="GradScaler"):
        assert gpunet.cuda.amp.GradScaler().is_enabled()
    from gpunet.cuda.amp import GradScaler, autocast  # noqa: F401  (importable, as torch.cuda.amp)


def test_cpu_bfloat16_is_refused():
    with pytest.raises(RuntimeError, match=r"autocast\('cpu', dtype=torch.bfloat16\): gpunet has no bfloat16 "
                                           "dtype; use dtype=torch.float16"):
        gpunet.autocast("cpu")
    with pytest.raises(RuntimeError, match="no bfloat16"):
        gpunet.get_autocast_dtype("cpu")
    with gpunet.autocast("cpu", enabled=False):  # nothing to cast to is needed
        pass


def test_argument_errors():
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        gpunet.autocast(3)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        gpunet.autocast("tpu")
    with pytest.warns(UserWarning, match="target dtype is not supported. Disabling autocast"):
        ctx = gpunet.autocast("cpu", dtype=F32)
    with ctx:
        assert not gpunet.is_autocast_enabled("cpu")


CPU_CASES = {
    "matmul": lambda L, F_, a, b, h: a @ b,
    "addmm": lambda L, F_, a, b, h: L.addmm(a[:, :2], a, b),
    "linear": lambda L, F_, a, b, h: F_.linear(a, b.T),
    "einsum": lambda L, F_, a, b, h: L.einsum("ij,jk", a, b),
    "softmax": lambda L, F_, a, b, h: L.softmax(h, 1),
    "exp": lambda L, F_, a, b, h: h.exp(),
    "sum": lambda L, F_, a, b, h: h.sum(),
    "mse_loss": lambda L, F_, a, b, h: F_.mse_loss(h, h),
    "cross_entropy": lambda L, F_, a, b, h: F_.cross_entropy(h, L.tensor([0, 1, 2])),
    "layer_norm": lambda L, F_, a, b, h: F_.layer_norm(h, (4,)),
    "cat": lambda L, F_, a, b, h: L.cat([h, a]),
    "float64 matmul": lambda L, F_, a, b, h: a.double() @ b.double(),
    "log_softmax": lambda L, F_, a, b, h: F_.log_softmax(h, 1),
}


@pytest.mark.parametrize("name", sorted(CPU_CASES))
def test_cpu_float16_autocast_matches_torch(name):
    """gpunet's choice for autocast('cpu', dtype=float16): PyTorch's CPU op lists (float16 matmul family;
    losses and linear algebra in float32; softmax, exp, sum untouched)."""
    torch = needs_torch()
    import torch.nn.functional as TF
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in ((3, 4), (4, 2))]
    ha = arrays[0].astype(np.float16)
    with gpunet.autocast("cpu", dtype=gpunet.float16):
        mine = CPU_CASES[name](gpunet, F, *[gpunet.tensor(a) for a in arrays], gpunet.tensor(ha))
    with warnings.catch_warnings(), torch.autocast("cpu", dtype=torch.float16):
        theirs = CPU_CASES[name](torch, TF, *[torch.tensor(a) for a in arrays], torch.tensor(ha))
    assert mine.dtype.name == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(mine.detach().numpy().astype(np.float64),
                               theirs.detach().numpy().astype(np.float64), rtol=2e-3, atol=2e-3)
