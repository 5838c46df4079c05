"""Tensor methods: metadata, conversion (item, tolist, numpy, __array__, dlpack), copies, devices, repr."""
import copy
import pickle

import numpy as np
import pytest

import gpunet


def test_metadata(device):
    x = gpunet.ones(2, 3, device=device)
    assert x.dtype == gpunet.float32 and x.device.type == device and x.is_cuda == (device == "cuda")
    assert x.is_leaf and x.grad is None and x.grad_fn is None and not x.requires_grad
    assert x.is_floating_point() and not gpunet.ones(2, dtype=gpunet.int64, device=device).is_floating_point()
    assert x.is_contiguous() and not x.t().is_contiguous()
    assert x.stride() == (3, 1) and x.t().stride() == (1, 3) and x.stride(0) == 3
    assert x.element_size() == 4 and x.nelement() == 6 and x.get_device() == (-1 if device == "cpu" else 0)
    assert gpunet.is_tensor(x) and not gpunet.is_tensor([1]) and gpunet.is_floating_point(x)
    assert gpunet.numel(x) == 6


def test_item_tolist_python_conversions(device):
    x = gpunet.tensor([[1.5, 2.0], [3.0, 4.0]], device=device)
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert x[0, 0].item() == 1.5 and isinstance(x[0, 0].item(), float)
    assert isinstance(gpunet.tensor(3, device=device).item(), int)
    assert isinstance(gpunet.tensor(True, device=device).item(), bool)
    assert gpunet.tensor(2.5, device=device).tolist() == 2.5
    assert float(x[1, 1]) == 4.0 and int(x[0, 0]) == 1 and bool(x[0, 0])
    assert [1, 2, 3][gpunet.tensor(1, device=device)] == 2  # __index__
    assert f"{gpunet.tensor(2.5, device=device):.2f}" == "2.50"
    assert len(x) == 2 and [r.tolist() for r in x] == [[1.5, 2.0], [3.0, 4.0]]
    assert gpunet.tensor([4.0], device=device).item() == 4.0  # a one-element tensor of any rank
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(gpunet.tensor(1.0, device=device))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(gpunet.tensor(1.0, device=device))
    with pytest.raises(TypeError):
        [1, 2][gpunet.tensor(1.0, device=device)]


def test_numpy_and_array_protocol():
    x = gpunet.tensor([1.0, 2.0])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 7.0
    assert x[0].item() == 7.0  # numpy() shares memory, as torch
    assert np.asarray(x).dtype == np.float32 and np.shares_memory(np.asarray(x), a)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert np.add(np.ones(2), np.asarray(x)).tolist() == [8.0, 3.0]
    y = gpunet.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        y.numpy()
    assert y.detach().numpy().tolist() == [1.0, 1.0]


def test_dlpack_with_numpy_both_ways():
    a = np.arange(6.0).reshape(2, 3)
    t = gpunet.from_dlpack(a)
    assert t.shape == (2, 3) and t.dtype == gpunet.float64
    a[0, 0] = 100.0
    assert t[0, 0].item() == 100.0  # zero copy
    back = np.from_dlpack(t)
    back[1, 2] = -5.0
    assert t[1, 2].item() == -5.0 and np.shares_memory(back, a)


def test_dlpack_with_torch_both_ways():
    torch = pytest.importorskip("torch")
    tt = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    g = gpunet.from_dlpack(tt)
    assert g.dtype == gpunet.float32 and g.shape == (2, 3)
    tt[0, 1] = 42.0
    assert g[0, 1].item() == 42.0
    x = gpunet.tensor([[1, 2], [3, 4]])
    tx = torch.from_dlpack(x)
    assert tx.dtype == torch.int64 and tx.tolist() == [[1, 2], [3, 4]]
    tx[1, 1] = 9
    assert x[1, 1].item() == 9
    assert gpunet.from_dlpack(x) is x


def test_clone_detach(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    if device == "cpu":  # np.shares_memory needs host arrays; d[0] = 5.0 below checks sharing on any device
        assert not np.shares_memory(c.detach().numpy(), x.detach().numpy())
        assert np.shares_memory(d.numpy(), x.detach().numpy())
    d[0] = 5.0
    assert x[0].item() == 5.0 and x._version == d._version  # detach shares the version counter
    y = x * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    z = gpunet.ones(2, device=device)
    assert z.requires_grad_() is z and z.requires_grad
    z.requires_grad = False
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        (x * 2).requires_grad_(False)


def test_data_property(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    d = x.data
    assert not d.requires_grad
    d[1] = 5.0
    assert x[1].item() == 5.0  # .data shares x's storage
    x.data = gpunet.tensor([3.0, 4.0], device=device)
    assert x.tolist() == [3.0, 4.0] and x.requires_grad


def test_contiguous(device):
    x = gpunet.arange(6.0, device=device).reshape(2, 3)
    assert x.contiguous() is x
    t = x.t()
    c = t.contiguous()
    assert c.is_contiguous() and c.tolist() == t.tolist()


def test_grad_setter_checks(device):
    x = gpunet.ones(2, requires_grad=True, device=device)
    x.grad = gpunet.zeros(2, device=device)
    assert x.grad.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="assigned grad has data of a different size"):
        x.grad = gpunet.zeros(3, device=device)
    with pytest.raises(RuntimeError, match="assigned grad has data of a different type"):
        x.grad = gpunet.zeros(2, dtype=gpunet.float64, device=device)
    x.grad = None
    assert x.grad is None


def test_deepcopy_and_pickle(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    x.grad = gpunet.tensor([0.5, 0.5], device=device)
    y = copy.deepcopy(x)
    assert y.tolist() == x.tolist() and y.requires_grad and y.grad.tolist() == [0.5, 0.5]
    y.data[0] = 9.0
    assert x[0].item() == 1.0
    z = pickle.loads(pickle.dumps(x))
    assert z.tolist() == [1.0, 2.0] and z.requires_grad and z.dtype == gpunet.float32
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(x * 2)


def test_hash_identity_and_eq_is_elementwise(device):
    x = gpunet.ones(2, device=device)
    assert {x: 1}[x] == 1
    y = x
    assert (x == y).tolist() == [True, True]  # == is elementwise, yet tensors stay hashable by identity


def test_to_cpu_noop_and_device_objects():
    x = gpunet.ones(2)
    assert x.to("cpu") is x and x.cpu() is x and x.to(gpunet.device("cpu")) is x
    d = gpunet.device("cuda:0")
    assert (d.type == "cuda" and d.index == 0 and str(d) == "cuda:0"
            and repr(d) == "device(type='cuda', index=0)")
    assert gpunet.device("cpu") == "cpu" and gpunet.device("cuda", 0) == d
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda device type"):
        gpunet.device("tpu")


# ---- repr vs torch -------------------------------------------------------------------------------
REPR_CASES = [
    "x.tensor([1., 2.5])", "x.tensor(3.)", "x.tensor(-0.5)", "x.tensor(float('nan'))", "x.tensor([1, 2])",
    "x.tensor([1, -200, 3])", "x.tensor([True, False])", "x.tensor([[True], [False]])",
    "x.tensor([1e-5, 1.])", "x.tensor([1e9, 1.])", "x.tensor([1e-10, 1.])", "x.tensor([1.5e10])",
    "x.tensor([1., 2.], dtype=x.float64)", "x.tensor([1, 2], dtype=x.int32)",
    "x.tensor([1.5], dtype=x.float16)",
    "x.zeros(0)", "x.zeros(2, 0)", "x.zeros(0, dtype=x.int64)", "x.zeros(0, dtype=x.float64)",
    "x.zeros(2, 0, dtype=x.int32)", "x.tensor([float('nan'), float('inf'), 1.5])",
    "x.tensor([float('-inf'), 1.])",
    "x.tensor([-1.5, 2.])", "x.tensor([[1., 2.], [3., 4.]])", "x.zeros(2, 2, 2)", "x.tensor([100., 1.])",
    "x.tensor([1.23456789, 100000.])", "x.tensor([0., -0.])", "x.tensor([123456., 1.])",
    "x.tensor([12345.678])", "x.tensor([0.1, 0.25, 1000.])", "x.tensor([0.001, 0.01])", "x.ones(3, 3) / 3",
    "x.arange(12).reshape(3, 4)", "x.arange(10.).reshape(2, 5) / 7", "x.arange(8, dtype=x.int16) - 3",
    "x.tensor([[1e-5, -3.], [float('nan'), 2e3]])", "x.tensor([1., 2.], dtype=x.float16) * 1000",
    # line wrapping and summarisation
    "x.arange(30.)", "x.arange(40)", "x.arange(60.).reshape(3, 20) * 1.5",
    "x.arange(24.).reshape(2, 12) * 1000 + 0.5",
    "x.arange(2000.)", "x.arange(1200).reshape(40, 30)", "x.arange(3000).reshape(10, 10, 30)",
    # autograd suffixes
    "x.tensor([1., 2.], requires_grad=True)", "x.tensor([1., 2.], requires_grad=True) * 2",
    "x.tensor([1., 2.], requires_grad=True) + 1", "x.tensor([1., 2.], requires_grad=True).exp()",
    "x.tensor([1., 2.], requires_grad=True).sum()", "x.tensor([1., 2.], requires_grad=True).mean()",
    "x.tensor([[1., 2.]], requires_grad=True).view(2)",
    "x.tensor([1., 2.], dtype=x.float64, requires_grad=True)",
    "x.tensor([[1., 2.]], dtype=x.float64, requires_grad=True) * 2", "(x.arange(25.) / 3).requires_grad_()",
    "x.arange(16.).reshape(4, 4).requires_grad_() * 1000.5", "x.tensor([1., 2.], requires_grad=True).relu()",
    "x.tensor([1., 2.], requires_grad=True).sigmoid()",
    "x.tensor([[1., 2.]], requires_grad=True) @ x.ones(2, 1)",
]

# Deliberate differences: gpunet records fewer distinct view nodes than PyTorch.
REPR_DIFFERENCES = {
    "x.tensor([[1., 2.]], requires_grad=True).t()": "grad_fn=<PermuteBackward0>",  # torch: TBackward0
    "x.tensor([[1., 2.]], requires_grad=True)[0]": "grad_fn=<IndexBackward0>",  # torch: SelectBackward0
    "x.tensor([1., 2.], requires_grad=True) @ x.ones(2)": "grad_fn=<MmBackward0>",  # torch: DotBackward0
}


@pytest.mark.parametrize("expr", REPR_CASES)
def test_repr_matches_torch(expr):
    torch = pytest.importorskip("torch")
    expected = repr(eval(expr, {"x": torch})).replace("torch.", "gpunet.")
    assert repr(eval(expr, {"x": gpunet})) == expected


@pytest.mark.parametrize("expr", sorted(REPR_DIFFERENCES))
def test_repr_documented_differences(expr):
    assert REPR_DIFFERENCES[expr] in repr(eval(expr, {"x": gpunet}))


def test_repr_without_torch():
    assert repr(gpunet.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(gpunet.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    assert repr(gpunet.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert repr(gpunet.tensor([1, 2], dtype=gpunet.int32)) == "tensor([1, 2], dtype=gpunet.int32)"
    assert repr(gpunet.zeros(2, 0)) == "tensor([], size=(2, 0))"
    assert str(gpunet.tensor(3.0)) == "tensor(3.)"


def test_repr_cuda_suffix():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    assert repr(gpunet.tensor([1.0], device="cuda")) == "tensor([1.], device='cuda:0')"
    assert repr(gpunet.tensor([1], dtype=gpunet.int32, device="cuda")) == \
        "tensor([1], device='cuda:0', dtype=gpunet.int32)"


def test_repr_follows_default_dtype():
    try:
        gpunet.set_default_dtype(gpunet.float64)
        assert repr(gpunet.tensor([1.0])) == "tensor([1.])"
        assert repr(gpunet.tensor([1.0], dtype=gpunet.float32)) == "tensor([1.], dtype=gpunet.float32)"
    finally:
        gpunet.set_default_dtype(gpunet.float32)
