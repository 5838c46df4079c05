"""What the core and nn test helpers share: tensor-to-NumPy conversion and the finite-difference check.

Imported as `tests.gpunet._helpers_common`. The test directories are not one package: under
--import-mode=importlib pytest names tests/gpunet/core and tests/gpunet/nn as top-level packages `core` and
`nn`, so a relative import cannot reach this file; `tests` itself is importable as a namespace package from
the rootdir (pytest imports tests/conftest.py as `tests.conftest` before any test module).
"""
import numpy as np

import gpunet

FD_EPS = 1e-6


def simulated(device):
    """True for the cuda device in Numba's simulator, where a kernel launch costs ~25 ms: tests of
    kernel-backed ops (conv, pooling, erf, optimizer steps) use smaller inputs there."""
    return device != "cpu" and gpunet.cuda.is_simulated()


def as_tuple(out):
    """A function's outputs as a tuple, whether it returned one tensor or a tuple/list of them."""
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def to_numpy(t):
    """Host NumPy array of a gpunet tensor (a copy) or a torch tensor."""
    if isinstance(t, gpunet.Tensor):
        return np.array(t.detach().cpu().numpy())
    return t.detach().cpu().numpy()


def fd_check(fn, arrays, needs, seeds, xs, device, eps=FD_EPS, atol=1e-5, rtol=1e-4):
    """Central differences of sum(seed * fn(*tensors)) against the analytic gradients already in xs[i].grad.

    fn takes gpunet tensors made from `arrays` on `device`; every element of every input with needs[i] is
    perturbed by +-eps. An input whose grad is None must have an all-zero numeric gradient.
    """
    def objective(arrs):
        with gpunet.no_grad():
            outs = as_tuple(fn(*[gpunet.tensor(a, device=device) for a in arrs]))
        return sum(float((to_numpy(o) * s).sum()) for o, s in zip(outs, seeds) if s is not None)

    for i, (a, n) in enumerate(zip(arrays, needs)):
        if not n:
            continue
        numeric = np.zeros(a.shape)
        work = [b.copy() for b in arrays]
        flat = work[i].reshape(-1)
        for e in range(flat.size):
            orig = flat[e]
            flat[e] = orig + eps
            plus = objective(work)
            flat[e] = orig - eps
            minus = objective(work)
            flat[e] = orig
            numeric.reshape(-1)[e] = (plus - minus) / (2 * eps)
        analytic = np.zeros(a.shape) if xs[i].grad is None else to_numpy(xs[i].grad)
        np.testing.assert_allclose(analytic, numeric, atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i} vs finite differences")
