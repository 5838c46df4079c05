"""Fixtures of the kernel tests."""
import pytest


@pytest.fixture
def without_vector_loops(monkeypatch):
    """Routes float32 convolutions as if kernels/cpu/_conv_vector.py's register-blocked loops did not exist:
    the tests of the other loops then run the loop they name on every machine (which layers the vector
    loops take depends on LANES: 8 with AVX2, 16 with AVX-512)."""
    from kernels.cpu import _conv_batch_inner, _conv_vector
    monkeypatch.setattr(_conv_vector, "applies", lambda *args, **kwargs: False)
    monkeypatch.setattr(_conv_batch_inner, "VECTOR_ROWS_BYTES", -1)
