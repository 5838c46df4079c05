"""The core promise: a PyTorch program inside gpunet's subset runs unchanged after `import gpunet as torch`.

Each program in tests/compat/programs/ runs once with real PyTorch and once with gpunet, from the same
initial weights (copied through state_dict -> NumPy -> load_state_dict) and the same NumPy-seeded data;
losses, parameters and predictions must agree to float32 / float64 precision.
"""
import pytest

import gpunet

from .programs import PROGRAMS, Init, assert_same

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_matches_pytorch(name):
    fn = PROGRAMS[name]
    ref_init = Init(torch)
    ref = fn(torch, ref_init)
    got_init = Init(gpunet, ref_init.states)
    got = fn(gpunet, got_init)
    assert got_init.calls == ref_init.calls
    assert_same(ref, got, fn.dtype)
