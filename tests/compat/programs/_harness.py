"""What the compat programs share: identical initial weights across libraries and result comparison.

A program is `fn(torch, init)`: `torch` is the framework module (real PyTorch or gpunet), and
`init(module)` gives a freshly built module the same starting state in both runs. The reference
(PyTorch) run records each module's state_dict as NumPy arrays; the gpunet run loads them back through
`load_state_dict`, so parameter and buffer names must match PyTorch's exactly. A program returns plain
Python numbers, lists, NumPy arrays and dicts of them, which `assert_same` compares.
"""
import numpy as np

PROGRAMS = {}


def program(dtype="float32"):
    """Register a program; `dtype` picks the tolerance its results are compared with."""
    def register(fn):
        fn.dtype = dtype
        PROGRAMS[fn.__name__] = fn
        return fn
    return register


class Init:
    """Records module states in the reference run (`states=None`) and replays them in the other run."""

    def __init__(self, torch, states=None):
        self.torch = torch
        self.recording = states is None
        self.states = [] if states is None else states
        self.calls = 0

    def __call__(self, module):
        assert isinstance(module, self.torch.nn.Module), (
            f"{type(module)} is not a {self.torch.__name__} Module")
        if self.recording:
            self.states.append({k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()})
        else:
            state = self.states[self.calls]
            module.load_state_dict({k: self.torch.from_numpy(v.copy()) for k, v in state.items()})
        self.calls += 1
        return module


TOLERANCES = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def assert_same(ref, got, dtype, path="result"):
    """Compare nested results: exact for ints, bools and strings; within the dtype's tolerance for floats."""
    if isinstance(ref, dict):
        assert isinstance(got, dict), f"{path}: expected a dict, got {type(got).__name__}"
        assert list(ref) == list(got), f"{path}: keys differ: {list(ref)} vs {list(got)}"
        for k in ref:
            assert_same(ref[k], got[k], dtype, f"{path}[{k!r}]")
        return
    if isinstance(ref, (list, tuple)) and not all(isinstance(x, (int, float)) for x in ref):
        assert isinstance(got, (list, tuple)) and len(ref) == len(got), f"{path}: {ref!r} vs {got!r}"
        for i, (r, g) in enumerate(zip(ref, got)):
            assert_same(r, g, dtype, f"{path}[{i}]")
        return
    if isinstance(ref, (str, bool, type(None))):
        assert ref == got, f"{path}: {ref!r} vs {got!r}"
        return
    r, g = np.asarray(ref), np.asarray(got)
    assert r.shape == g.shape, f"{path}: shape {r.shape} vs {g.shape}"
    if r.dtype.kind in "biu":
        assert g.dtype.kind == r.dtype.kind, f"{path}: dtype {r.dtype} vs {g.dtype}"
        np.testing.assert_array_equal(g, r, err_msg=path)
    else:
        assert g.dtype == r.dtype, f"{path}: dtype {r.dtype} vs {g.dtype}"
        np.testing.assert_allclose(g, r, err_msg=path, **TOLERANCES[dtype])
