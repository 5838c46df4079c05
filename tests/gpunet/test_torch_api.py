"""gpunet/_torch_api.json, the snapshot of PyTorch's public names that gpunet's errors consult."""
import pytest

from gpunet import _torch_api


def test_snapshot_matches_installed_pytorch():
    torch = pytest.importorskip("torch")
    taken_from = _torch_api.snapshot()["_torch_version"]
    if torch.__version__ != taken_from:
        pytest.skip(f"the snapshot is of torch {taken_from}, installed is {torch.__version__}")
    taken = _torch_api.take_snapshot()
    for module in _torch_api.MODULES:
        assert taken[module] == _torch_api.snapshot()[module], f"{module}: python -m gpunet._torch_api"


def test_kinds():
    assert _torch_api.kind_of("torch.nn", "Transformer") == "class"
    assert _torch_api.kind_of("torch.nn.functional", "relu") == "function"
    assert _torch_api.kind_of("torch", "onnx") == "module"
    assert _torch_api.kind_of("torch", "no_such_name") is None
    assert _torch_api.kind_of("torch.not_snapshotted", "x") is None
