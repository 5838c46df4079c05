"""Top-of-script switches: torch.backends flags and set/get_num_threads."""
import pytest

import gpunet


def test_backend_flags_are_settable_and_report_unavailable():
    cudnn = gpunet.backends.cudnn
    old = (cudnn.benchmark, cudnn.deterministic)
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        assert gpunet.backends.cudnn.benchmark and gpunet.backends.cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = old
    assert cudnn.enabled is True and cudnn.is_available() is False and cudnn.version() is None
    assert gpunet.backends.mps.is_available() is False and gpunet.backends.mps.is_built() is False
    gpunet.backends.cuda.matmul.allow_tf32 = True
    assert gpunet.backends.cuda.matmul.allow_tf32 is True


def test_device_choice_idiom():
    device = "mps" if gpunet.backends.mps.is_available() else "cpu"
    assert gpunet.ones(2, device=device).device.type == "cpu"


def test_num_threads_round_trip():
    before = gpunet.get_num_threads()
    try:
        gpunet.set_num_threads(1)
        assert gpunet.get_num_threads() == 1
        gpunet.set_num_threads(10_000)  # more than the pool: capped, as many as there are
        assert gpunet.get_num_threads() >= 1
    finally:
        gpunet.set_num_threads(before)
    assert gpunet.get_num_threads() == before
    with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
        gpunet.set_num_threads(0)
    with pytest.raises(TypeError):
        gpunet.set_num_threads(1.5)
