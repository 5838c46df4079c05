"""kernels/cpu/_scratch.py: the per-slot workspace buffers the CPU kernels reuse across calls."""
import numpy as np

from kernels.cpu import _scratch


def test_workspace_starts_on_a_cache_line():
    """Every workspace array starts at a multiple of 64 bytes (the vector loops' loads of 64 bytes then
    read one line), whatever the slot's buffer held before, and has the shape and dtype asked for."""
    cases = (((3, 5), np.float32), ((7,), np.float64), ((1000, 3), np.float32), ((2, 9), np.int64))
    for shape, dtype in cases:
        a = _scratch.workspace("test_alignment", shape, dtype)
        assert a.ctypes.data % _scratch.ALIGN == 0 and a.shape == shape and a.dtype == dtype
