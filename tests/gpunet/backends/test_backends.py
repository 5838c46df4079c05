"""Top-of-script switches: torch.backends flags (a package of submodules, as in PyTorch) and
set/get_num_threads."""
import importlib

import pytest

import gpunet
import gpunet.backends.cudnn as cudnn
from gpunet.backends import cuda, mps


def test_submodules_import_as_in_torch():
    assert cudnn is gpunet.backends.cudnn and mps is gpunet.backends.mps and cuda is gpunet.backends.cuda
    for name in ("cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"):
        assert importlib.import_module(f"gpunet.backends.{name}") is getattr(gpunet.backends, name)


def test_backend_flags_are_settable_and_report_unavailable():
    old = (cudnn.benchmark, cudnn.deterministic)
    try:
        gpunet.backends.cudnn.benchmark, gpunet.backends.cudnn.deterministic = True, True  # module attributes
        assert cudnn.benchmark and cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = old
    assert cudnn.enabled is True and cudnn.allow_tf32 is True
    assert cudnn.is_available() is False and cudnn.version() is None
    assert cudnn.is_acceptable(gpunet.ones(1)) is False
    assert gpunet.backends.mps.is_available() is False and gpunet.backends.mps.is_built() is False
    assert gpunet.backends.mkldnn.is_available() is False and gpunet.backends.mkldnn.enabled is True
    assert gpunet.backends.openmp.is_available() is False and gpunet.backends.mkl.is_available() is False
    assert gpunet.backends.cpu.get_cpu_capability() == "DEFAULT"


def test_cuda_matmul_flags():
    matmul = gpunet.backends.cuda.matmul
    old = matmul.allow_tf32
    try:
        gpunet.backends.cuda.matmul.allow_tf32 = True
        assert gpunet.backends.cuda.matmul.allow_tf32 is True
    finally:
        matmul.allow_tf32 = old
    assert matmul.allow_fp16_reduced_precision_reduction is True
    with pytest.raises(AttributeError):
        matmul.allow_tf23 = True  # a misspelt flag is an error, as in PyTorch
    # built for cuda whenever the cuda device (simulated or real) is usable
    assert not gpunet.cuda.is_available() or gpunet.backends.cuda.is_built()


def test_cudnn_flags_context_restores():
    before = (cudnn.enabled, cudnn.benchmark, cudnn.deterministic)
    with cudnn.flags(enabled=False, deterministic=True):
        assert cudnn.enabled is False and cudnn.deterministic is True and cudnn.benchmark is False
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == before


def test_same_defaults_as_torch():
    torch = pytest.importorskip("torch")
    for name in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(cudnn, name) == getattr(torch.backends.cudnn, name), name
    for name in ("allow_tf32", "allow_fp16_reduced_precision_reduction"):
        assert getattr(cuda.matmul, name) == getattr(torch.backends.cuda.matmul, name), name
    assert mps.is_built() == torch.backends.mps.is_built()


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
