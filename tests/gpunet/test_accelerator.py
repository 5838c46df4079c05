"""gpunet.accelerator (torch.accelerator): the cuda device's answers, with and without one."""
import pytest

import gpunet
from gpunet import accelerator


@pytest.fixture
def no_cuda(monkeypatch):
    """gpunet as on a machine without a GPU (and without the simulator)."""
    monkeypatch.setattr(gpunet.cuda, "is_available", lambda: False)


def _official_idiom():
    return accelerator.current_accelerator().type if accelerator.is_available() else "cpu"


def test_official_examples_idiom():
    chosen = _official_idiom()
    assert chosen == ("cuda" if gpunet.cuda.is_available() else "cpu")
    assert gpunet.ones(2, device=chosen).device.type == chosen


def test_official_examples_idiom_without_an_accelerator(no_cuda):
    assert _official_idiom() == "cpu"


def test_with_the_cuda_device():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device (GPU or GPUNET_CUDA_SIM=1)")
    assert accelerator.is_available() is True
    dev = accelerator.current_accelerator()
    assert dev == gpunet.device("cuda") and dev.index is None  # no index, as PyTorch documents
    assert accelerator.current_accelerator(check_available=True) == dev
    assert accelerator.device_count() == gpunet.cuda.device_count() >= 1
    assert accelerator.current_device_index() == 0
    accelerator.set_device_index(0)
    accelerator.set_device_index("cuda:0")
    accelerator.set_device_index(-1)  # a no-op, as in PyTorch
    with pytest.raises(RuntimeError, match="out of range"):
        accelerator.set_device_index(1)
    with pytest.raises(RuntimeError, match="expected a device of the current accelerator"):
        accelerator.synchronize("cpu")
    y = gpunet.ones(3, device=dev) * 2
    accelerator.synchronize()
    accelerator.synchronize(0)
    assert y.tolist() == [2.0, 2.0, 2.0]
    with accelerator.device_index(0):
        assert accelerator.current_device_index() == 0
    with accelerator.device_index(None):
        pass


def test_without_an_accelerator(no_cuda):
    assert accelerator.is_available() is False
    assert accelerator.current_accelerator() is None
    assert accelerator.current_accelerator(check_available=True) is None
    assert accelerator.device_count() == 0
    msg = "Cannot access accelerator device when none is available."
    for call in (accelerator.current_device_index, accelerator.synchronize,
                 lambda: accelerator.set_device_index(0)):
        with pytest.raises(RuntimeError, match=msg):
            call()
    accelerator.set_device_index(-1)  # negative: a no-op even without a device
    with accelerator.device_index(None):
        pass
    with pytest.raises(RuntimeError, match=msg), accelerator.device_index(0):
        pass


def test_deprecated_aliases_warn():
    with pytest.warns(FutureWarning, match="current_device_index"):
        try:
            accelerator.current_device_idx()
        except RuntimeError:
            assert not gpunet.cuda.is_available()
    with pytest.warns(FutureWarning, match="set_device_index"):
        accelerator.set_device_idx(-1)


def test_matches_torch_without_an_accelerator(no_cuda):
    torch = pytest.importorskip("torch")
    if torch.accelerator.is_available():
        pytest.skip("this torch has an accelerator")
    assert accelerator.current_accelerator() == torch.accelerator.current_accelerator()
    assert accelerator.device_count() == torch.accelerator.device_count()
    for name in ("current_device_index", "synchronize"):
        with pytest.raises(RuntimeError) as mine:
            getattr(accelerator, name)()
        with pytest.raises(RuntimeError) as ref:
            getattr(torch.accelerator, name)()
        assert str(mine.value) == str(ref.value)
