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
    torch.manual_seed(0)  # the initial weights: fixed, so that a failure reproduces
    gpunet.manual_seed(0)
    ref_init = Init(torch)
    ref = fn(torch, ref_init)
    got_init = Init(gpunet, ref_init.states)
    got = fn(gpunet, got_init)
    assert got_init.calls == ref_init.calls
    assert_same(ref, got, fn.dtype)


def test_assert_same_catches_differences():
    """The comparison itself must fail on a wrong value, dtype, key, length or flag."""
    import numpy as np

    ref = {"losses": [1.0, 0.5], "w": np.ones(3, dtype=np.float32), "ok": True, "names": ["a"], "n": 3}
    assert_same(ref, {**ref, "losses": [1.0, 0.5 + 4e-6]}, "float32")
    bad = [{**ref, "losses": [1.0, 0.5001]}, {**ref, "w": np.ones(3)}, {**ref, "ok": False}, {**ref, "n": 4},
           {**ref, "names": ["a", "b"]}, {k: v for k, v in ref.items() if k != "n"}]
    for got in bad:
        with pytest.raises(AssertionError):
            assert_same(ref, got, "float32")
    with pytest.raises(AssertionError):
        assert_same({"x": [1.0]}, {"x": [1.0 + 1e-9]}, "float64")
