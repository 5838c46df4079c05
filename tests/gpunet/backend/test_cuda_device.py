"""The cuda device (Numba's simulator without a GPU): composed ops on both devices, transfers, device errors.

Every op test of tests/gpunet runs on both devices through the `device` fixture (tests/conftest.py); the
tests here are about what only a second device has: moving tensors and gradients between devices, errors.
"""
import numpy as np
import pytest

import gpunet

from tests.helpers import check_op, lib

needs_cuda = pytest.mark.skipif(not gpunet.cuda.is_available(),
                                reason="no cuda device (GPU or GPUNET_CUDA_SIM=1)")

OPS = {
    "add_broadcast": (lambda x, y: x + y, [(3, 4), (4,)]),
    "mul_div": (lambda x, y: x * y / (y * y + 1), [(3, 4), (3, 1)]),
    "unary": (lambda x: x.exp() + x.tanh() + x.sigmoid() + x.relu() + x.abs() + x.sin(), [(2, 3)]),
    "erf": (lambda x: x.erf(), [(5,)]),
    "pow_clamp": (lambda x: (x.abs() + 0.5) ** 1.5 + x.clamp(-0.3, 0.3), [(2, 3)]),
    "sum_mean": (lambda x: x.sum(1) + x.mean(0, keepdim=True).sum(), [(3, 4)]),
    "max_dim": (lambda x: x.max(1).values + x.amin(), [(3, 4)]),
    "var_logsumexp": (lambda x: x.var(0) + x.logsumexp(0), [(3, 4)]),
    "cumsum_prod": (lambda x: x.cumsum(1) * x.prod(1, keepdim=True), [(2, 3)]),
    "matmul": (lambda x, y: x @ y, [(2, 3, 4), (4, 2)]),
    "bmm": (lambda x, y: x.bmm(y), [(2, 3, 4), (2, 4, 2)]),
    "index": (lambda x: x[1:, ::2] + x[[0, 2]][:, 1:3].sum(), [(3, 4)]),
    "index_tensor": (lambda x: x[lib(x).tensor([2, 0, 2], device=x.device)], [(3, 4)]),
    "bool_mask": (lambda x: x[x > 0], [(3, 4)]),
    "cat_stack": (lambda x, y: lib(x).cat([x, y], 1).sum(0) + lib(x).stack([x, x]).mean(), [(2, 3), (2, 2)]),
    "shape_ops": (lambda x: x.t().reshape(2, 6).permute(1, 0).flatten().unsqueeze(0), [(3, 4)]),
    "where": (lambda x, y: lib(x).where(x > y, x, y * 2), [(3, 4), (4,)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_torch_and_fd(name, device):
    fn, shapes = OPS[name]
    out = check_op(fn, *shapes, device=device)
    first = out[0] if isinstance(out, tuple) else out
    assert first.device.type == device


@needs_cuda
def test_transfers_both_ways():
    x = gpunet.tensor([[1.0, 2.0], [3.0, 4.0]])
    c = x.cuda()
    assert c.device.type == "cuda" and c.is_cuda and c.get_device() == 0
    assert c.tolist() == x.tolist()
    for moved in (x.to("cuda"), x.to(gpunet.device("cuda:0")), x.to("cuda", gpunet.float64), x.cuda(0)):
        assert moved.device == gpunet.device("cuda:0")
    back = c.cpu()
    assert back.device.type == "cpu" and back.tolist() == x.tolist()
    assert c.to("cuda") is c and c.cuda() is c
    c[0, 0] = 100.0
    assert x[0, 0].item() == 1.0  # a copy, not an alias
    assert c.to(x).device.type == "cpu"  # to(other) takes other's device and dtype
    z = gpunet.zeros(2, device="cuda", dtype=gpunet.int32)
    assert z.device.type == "cuda" and z.dtype == gpunet.int32 and z.type() == "torch.cuda.IntTensor"


@needs_cuda
def test_creation_on_cuda():
    for t in (gpunet.ones(2, device="cuda"), gpunet.rand(2, device="cuda"), gpunet.arange(3, device="cuda"),
              gpunet.eye(2, device="cuda"), gpunet.full((2,), 3, device="cuda"),
              gpunet.tensor([1], device="cuda"), gpunet.zeros_like(gpunet.ones(2, device="cuda")),
              gpunet.randn(2, device="cuda")):
        assert t.device == gpunet.device("cuda:0")  # a tensor's device always carries the index, as torch


@needs_cuda
def test_backward_across_devices():
    x = gpunet.tensor([1.0, 2.0], dtype=gpunet.float64, requires_grad=True)
    y = (x.cuda() * 3).exp().sum()
    assert y.device.type == "cuda"
    y.backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp([3.0, 6.0]))
    w = gpunet.ones(2, device="cuda", requires_grad=True)
    (w.cpu() * 2).sum().backward()
    assert w.grad.device.type == "cuda" and w.grad.tolist() == [2.0, 2.0]


@needs_cuda
def test_mixing_devices_errors_name_both():
    a, b = gpunet.ones(2), gpunet.ones(2, device="cuda")
    pattern = r"Expected all tensors to be on the same device.*(cpu and cuda:0|cuda:0 and cpu)"
    for op in (lambda: a + b, lambda: a * b, lambda: b - a, lambda: a @ b, lambda: gpunet.cat([a, b]),
               lambda: gpunet.maximum(a, b), lambda: a < b, lambda: gpunet.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match=pattern):
            op()
    with pytest.raises(RuntimeError, match="cpu|cuda"):
        a[0] = b[0]
    with pytest.raises(RuntimeError, match="indices should be either on cpu or on the same device"):
        a[gpunet.tensor([0], device="cuda")]
    assert b[gpunet.tensor([1])].tolist() == [1.0]  # a cpu index into a cuda tensor is fine, as in torch
    i = gpunet.tensor([[0, 1]])
    for op in (lambda: b.view(1, 2).gather(1, i), lambda: b.index_select(0, i[0]),
               lambda: b.view(1, 2).scatter_add(1, i, b.view(1, 2)), lambda: b.view(1, 2).scatter(1, i, 0.0)):
        with pytest.raises(RuntimeError, match=pattern):  # unlike indexing, these need a device index
            op()
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        b.numpy()


@needs_cuda
def test_inplace_and_random_on_cuda():
    x = gpunet.zeros(4, device="cuda")
    x.add_(1).mul_(3)
    assert x.tolist() == [3.0] * 4
    x.normal_()
    x.uniform_(0, 1)
    assert x.device.type == "cuda" and 0 <= x.min().item() and x.max().item() < 1
    x.copy_(gpunet.tensor([1.0, 2.0, 3.0, 4.0]))  # copy_ across devices is allowed
    assert x.tolist() == [1.0, 2.0, 3.0, 4.0] and x.device.type == "cuda"


@needs_cuda
def test_cuda_module_api():
    assert gpunet.cuda.device_count() >= 1 and gpunet.cuda.current_device() == 0
    gpunet.cuda.synchronize()
    gpunet.cuda.manual_seed_all(0)
    with pytest.raises(RuntimeError, match="not available"):
        gpunet.ones(1, device="cuda:1")
