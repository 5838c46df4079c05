"""Fixtures of the kernel tests."""
import pytest


@pytest.fixture
def without_vector_loops(monkeypatch):
    """Routes float32 convolutions as if kernels/cpu/_conv_vector.py's register-blocked loops did not exist:
    the tests of the other loops then run the loop they name on every machine."""
    from kernels.cpu import _conv_vector
    monkeypatch.setattr(_conv_vector, "ENABLED", False)


@pytest.fixture
def with_vector_loops(monkeypatch):
    """Routes float32 convolutions to kernels/cpu/_conv_vector.py's loops wherever they apply, also on AVX2
    machines for layers of many input channels (there not routed to by default: MAX_INPUT_CHANNELS), and for
    rows of LANES pixels (MIN_ROW, 16 by default, is two AVX2 vectors)."""
    from kernels.cpu import _conv_vector
    monkeypatch.setattr(_conv_vector, "ENABLED", True)
    monkeypatch.setattr(_conv_vector, "MAX_INPUT_CHANNELS", None)
    monkeypatch.setattr(_conv_vector, "MIN_ROW", _conv_vector.LANES)
