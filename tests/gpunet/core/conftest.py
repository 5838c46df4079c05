"""Fixtures for the core tests: a `device` fixture over cpu and (simulated) cuda."""
import pytest

import gpunet


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not gpunet.cuda.is_available():
        pytest.skip("cuda device not available (neither a GPU nor GPUNET_CUDA_SIM=1)")
    return request.param
