"""Test-wide setup: the `cuda` device runs in Numba's CUDA simulator unless a real GPU is asked for.

Set GPUNET_TEST_REAL_GPU=1 on a machine with an NVIDIA GPU to run the same tests on CuPy arrays.
The switch must happen before numba is first imported, hence at the top of the root conftest.

The `device` fixture runs a test once on "cpu" and once on "cuda" (simulated, or the real GPU); it is
the one device parametrisation of the suite.
"""
import os

import pytest  # pytest does not import numba

if os.environ.get("GPUNET_TEST_REAL_GPU", "") in ("", "0"):
    os.environ.setdefault("GPUNET_CUDA_SIM", "1")

REAL_GPU = os.environ.get("GPUNET_CUDA_SIM", "") in ("", "0")


def pytest_collection_modifyitems(config, items):
    if REAL_GPU:
        return
    skip = pytest.mark.skip(reason="needs a real NVIDIA GPU (set GPUNET_TEST_REAL_GPU=1 on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """"cpu" or "cuda"; the cuda run is skipped when neither a GPU nor GPUNET_CUDA_SIM=1 provides one."""
    if request.param == "cuda":
        import gpunet
        if not gpunet.cuda.is_available():
            pytest.skip("cuda device not available (neither a GPU with CuPy nor GPUNET_CUDA_SIM=1)")
    return request.param


@pytest.fixture(autouse=True)
def no_unreported_device_assert():
    """A test must not leave a failed device assert behind (an error it never synchronised to see): the
    next test's first synchronisation would raise it. Checking costs nothing when none is pending."""
    yield
    import sys
    backend = sys.modules.get("gpunet.backend.cuda")
    if backend is None or not backend._pending:
        return
    try:
        backend.synchronize()
    except Exception as exc:
        pytest.fail(f"the test left a failed device assert unreported (synchronise inside pytest.raises): "
                    f"{exc}")


@pytest.fixture(autouse=True, scope="session")
def check_every_backward():
    """Every Op's backward is checked at its op: the gradients it returns have its inputs' shapes, dtypes
    and devices (gpunet.autograd.function.checking_backward)."""
    from gpunet.autograd import function
    function.checking_backward[0] = True
    yield
    function.checking_backward[0] = False
