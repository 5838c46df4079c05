"""Tensor's is_* predicates and the top-level ones, against PyTorch's answers for the same tensors."""
import pytest

import gpunet

# every is_* name torch.Tensor has in PyTorch 2.13, by how it is called
PROPERTIES = ("is_cpu", "is_cuda", "is_ipu", "is_leaf", "is_maia", "is_meta", "is_mkldnn", "is_mps",
              "is_mtia", "is_nested", "is_quantized", "is_sparse", "is_sparse_csr", "is_vulkan", "is_xla",
              "is_xpu")
METHODS = ("is_complex", "is_conj", "is_contiguous", "is_distributed", "is_floating_point", "is_inference",
           "is_neg", "is_pinned", "is_shared", "is_signed")
DTYPES = ("bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64")


def test_every_torch_predicate_exists():
    torch = pytest.importorskip("torch")
    theirs = {n for n in dir(torch.Tensor) if n.startswith("is_")}
    mine = {n for n in dir(gpunet.Tensor) if n.startswith("is_")}
    assert theirs - mine == set()
    assert mine - theirs == set()  # nothing torch.Tensor lacks


@pytest.mark.parametrize("dtype", DTYPES)
def test_predicates_match_torch(dtype, device):
    torch = pytest.importorskip("torch")
    x = gpunet.ones(2, 3, dtype=getattr(gpunet, dtype), device=device)
    ref = torch.ones(2, 3, dtype=getattr(torch, dtype))
    for name in PROPERTIES:
        mine, theirs = getattr(x, name), getattr(ref, name)
        if name == "is_cuda":
            theirs = device == "cuda"
        elif name == "is_cpu":
            theirs = device == "cpu"
        assert mine is theirs, name
    for name in METHODS:
        assert getattr(x, name)() is getattr(ref, name)(), name
    assert x.t().is_contiguous() is ref.t().is_contiguous() is False
    assert x.is_same_size(x[0:2]) and not x.is_same_size(x[0])
    assert x.is_set_to(x) and x.is_set_to(x[:]) and not x.is_set_to(x[1:]) and not x.is_set_to(x.clone())


def test_device_predicates_without_torch(device):
    x = gpunet.ones(2, device=device)
    assert x.is_cpu is (device == "cpu") and x.is_cuda is (device == "cuda")
    assert not any(getattr(x, name) for name in PROPERTIES if name not in ("is_cpu", "is_cuda", "is_leaf"))
    assert x.is_leaf
    assert x.is_signed() and not x.bool().is_signed() and not x.is_complex() and not x.is_inference()


def test_is_nonzero(device):
    assert gpunet.tensor([1.5], device=device).is_nonzero() is True
    assert gpunet.tensor([[0]], device=device).is_nonzero() is False
    assert gpunet.is_nonzero(gpunet.tensor(True, device=device))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        gpunet.tensor([], device=device).is_nonzero()
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        gpunet.ones(2, device=device).is_nonzero()
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        bool(gpunet.tensor([], device=device))


def test_is_coalesced_refused_for_dense_tensors():
    with pytest.raises(RuntimeError, match="is_coalesced expected sparse coordinate tensor layout"):
        gpunet.ones(2).is_coalesced()


def test_top_level_predicates(device):
    x = gpunet.ones(2, device=device)
    assert gpunet.is_tensor(x) and not gpunet.is_tensor([1.0])
    assert gpunet.is_floating_point(x) and not gpunet.is_floating_point(x.long())
    assert not gpunet.is_complex(x) and not gpunet.is_conj(x) and not gpunet.is_neg(x)
    assert gpunet.is_signed(x) and not gpunet.is_signed(x.byte()) and not gpunet.is_signed(x.bool())
    assert gpunet.is_same_size(x, x * 2) and not gpunet.is_same_size(x, x[:1])
    assert not gpunet.is_distributed(x) and not gpunet.is_inference(x)
    assert not gpunet.is_storage(x)


def test_inference_mode_marks_tensors(device):
    x = gpunet.ones(2, device=device)
    assert not gpunet.is_inference_mode_enabled()
    with gpunet.inference_mode():
        assert gpunet.is_inference_mode_enabled() and not gpunet.is_grad_enabled()
        y = x * 2
        z = gpunet.zeros(1, device=device)
        with gpunet.inference_mode(False):
            assert not gpunet.is_inference_mode_enabled() and gpunet.is_grad_enabled()
            assert not (x * 2).is_inference()
        with gpunet.no_grad():
            assert gpunet.is_inference_mode_enabled()
    assert y.is_inference() and z.is_inference() and not x.is_inference()
    assert not gpunet.is_inference_mode_enabled() and gpunet.is_grad_enabled()
    with gpunet.no_grad():
        assert not (x * 2).is_inference()

    @gpunet.inference_mode()
    def f(t):
        assert gpunet.is_inference_mode_enabled()
        return t + 1
    assert f(x).is_inference() and not gpunet.is_inference_mode_enabled()


def test_inference_mode_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (gpunet, torch):
        x = lib.ones(2)
        with lib.inference_mode():
            y = x * 2
            inside = lib.is_inference_mode_enabled()
        assert (inside, y.is_inference(), x.is_inference(), lib.is_inference_mode_enabled()) == (
            True, True, False, False), lib.__name__


def test_deterministic_algorithms_flag_is_recorded():
    assert gpunet.are_deterministic_algorithms_enabled() is False
    gpunet.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert gpunet.are_deterministic_algorithms_enabled() is True
        assert gpunet.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        gpunet.use_deterministic_algorithms(False)
    assert gpunet.are_deterministic_algorithms_enabled() is False
