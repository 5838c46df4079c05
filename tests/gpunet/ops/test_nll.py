"""cross_entropy on class indices through the fused kernels (CrossEntropyRows): PyTorch, float64 gradchecks
with weights, ignore_index and label smoothing, on (N, C) and (N, C, d...) logits, the array-module path
(ClassNLL) for the same numbers, and the version check on the saved logits."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet.ops import nll
from tests.helpers import compare, gradcheck, rand, simulated, to_np

OPTIONS = [{}, {"weight": True}, {"ignore_index": 2}, {"label_smoothing": 0.3},
           {"weight": True, "ignore_index": 1, "label_smoothing": 0.2}]


def _args(opts, c, device):
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = gpunet.tensor(rand(c, seed=9, low=0.2, high=2.0), device=device)
    return kw


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_fused_cross_entropy_gradcheck_float64(opts, reduction, device):
    rows = 3 if simulated(device) else 5  # each evaluation launches Python-run kernels there
    t = gpunet.tensor([2, 0, 1, 2, 3][:rows], device=device)  # holds ignore_index 1 and 2
    kw = _args(opts, 4, device)
    gradcheck(lambda F, x: F.cross_entropy(x, t, reduction=reduction, **kw), rand(rows, 4), device=device)


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_cross_entropy_matches_torch_on_wide_rows(opts, dtype, device):
    m, c = (3, 40) if simulated(device) else (9, 1000)
    rng = np.random.default_rng(1)
    t = rng.integers(0, c, m)
    t[1] = opts.get("ignore_index", -100)
    arrays = [rand(m, c, low=-6, high=6), t]
    kw = dict(opts)
    if kw.pop("weight", False):
        arrays.append(rand(c, seed=9, low=0.2, high=2.0))
    compare(lambda F, x, t, *w: F.cross_entropy(x, t, *w, **kw), *arrays,
            needs=[True, False, False][:len(arrays)], dtype=dtype, fd=False, device=device)


@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3), (2, 5, 1, 4)], ids=str)
@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_fused_equals_the_array_module_path(opts, shape, device):
    # the kernels (rows for (N, C), the middle-axis ones for (N, C, d...)) against ClassNLL's NumPy / CuPy
    x = gpunet.tensor(rand(*shape, seed=2), device=device, requires_grad=True)
    t = np.random.default_rng(3).integers(0, 5, shape[:1] + shape[2:])
    t.reshape(-1)[1] = opts.get("ignore_index", -100)
    t = gpunet.tensor(t, device=device)
    kw = _args(opts, 5, device)
    w = None if "weight" not in kw else kw["weight"]._data
    ignore, eps = kw.get("ignore_index", -100), kw.get("label_smoothing", 0.0)
    for reduction in ("mean", "sum", "none"):
        fused = F.cross_entropy(x, t, reduction=reduction, **kw)
        other = nll.ClassNLL.apply(x, t._data, w, ignore, reduction, eps, True)
        np.testing.assert_allclose(to_np(fused), to_np(other), rtol=1e-13)
        g = gpunet.ones_like(fused)
        np.testing.assert_allclose(to_np(gpunet.autograd.grad(fused, x, g)[0]),
                                   to_np(gpunet.autograd.grad(other, x, g)[0]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_fused_cross_entropy_of_n_c_h_w_gradcheck_float64(opts, device):
    if simulated(device) and opts != OPTIONS[-1]:
        pytest.skip("the simulated device runs one case (its kernels are the row kernels, checked above)")
    t = np.array([[[2, 0, 1], [3, 1, 2]], [[0, 0, 3], [1, 2, 2]]])  # (2, 2, 3)
    t = t[:1, :1] if simulated(device) else t  # each evaluation launches Python-run kernels there
    kw = _args(opts, 4, device)
    gradcheck(lambda F, x: F.cross_entropy(x, gpunet.tensor(t, device=device), **kw),
              rand(t.shape[0], 4, *t.shape[1:]), device=device)


def test_fused_path_takes_float32_float64_logits():
    assert nll.fused_cross_entropy(np.zeros((2, 3), np.float32)) and nll.fused_cross_entropy(np.zeros(3))
    assert nll.fused_cross_entropy(np.zeros((2, 3, 4)))
    assert not nll.fused_cross_entropy(np.zeros((2, 3), np.float16))
    assert not nll.fused_cross_entropy(np.zeros(()))


def test_masked_rows_match_torch(device):
    x = np.array([[0.5, -np.inf, 1.0], [-np.inf] * 3, [2.0, -np.inf, -np.inf]])
    out = compare(lambda F, x, t: F.cross_entropy(x, t, reduction="none"), x, np.array([0, 1, 0]),
                  needs=[True, False], fd=False, device=device)
    assert np.isnan(to_np(out)[1]) and to_np(out)[2] == 0


def test_in_place_change_of_saved_logits_raises(device):
    x = gpunet.randn(3, 4, device=device, requires_grad=True)
    y = x * 1
    loss = F.cross_entropy(y, gpunet.tensor([0, 1, 2], device=device))
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
