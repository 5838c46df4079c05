"""Losses: every loss vs torch over option grids (float64, float32), finite differences, stability, errors."""
import warnings

import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import compare, gradcheck, rand, to_np

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}),
                                     ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 0.0}),
                                     ("huber_loss", {}), ("huber_loss", {"delta": 0.3})])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_regression_losses_match_torch(name, kw, reduction, dtype, device):
    x, t = rand(3, 4, seed=1), rand(3, 4, seed=2)
    compare(lambda F, x, t: getattr(F, name)(x, t, reduction=reduction, **kw), x, t, dtype=dtype,
            fd=dtype == "float64", device=device)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_loss_broadcast_warns_like_torch(name, device):
    with pytest.warns(UserWarning, match="Using a target size .* that is different to the input size"):
        compare(lambda F, x, t: getattr(F, name)(x, t), rand(3, 1, seed=1), rand(3, seed=2), device=device)


def test_legacy_size_average_reduce_flags(device):
    x, t = gpunet.randn(3, device=device), gpunet.randn(3, device=device)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert F.mse_loss(x, t, size_average=False).shape == ()
    with pytest.warns(UserWarning):
        assert F.l1_loss(x, t, reduce=False).shape == (3,)


def _ce_cases():
    rng = np.random.default_rng(0)
    return [
        ("2d", rand(4, 5, seed=1), rng.integers(0, 5, size=4)),
        ("1d", rand(5, seed=1), np.array(3)),
        ("nd", rand(2, 4, 3, 2, seed=1), rng.integers(0, 4, size=(2, 3, 2))),
        ("ignored", rand(5, 3, seed=2), np.array([0, -100, 2, 1, -100])),
    ]


CE_OPTIONS = [{}, {"weight": True}, {"label_smoothing": 0.2}, {"weight": True, "label_smoothing": 0.1},
              {"ignore_index": 1}, {"weight": True, "ignore_index": 2}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("case", _ce_cases(), ids=lambda c: c[0])
def test_cross_entropy_class_indices_match_torch(case, opts, reduction, device):
    _, x, t = case
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    kw = dict(opts)
    t = np.where(t == -100, kw.get("ignore_index", -100), t)
    arrays = [x, t]
    if kw.pop("weight", False):
        arrays.append(rand(c, seed=5, low=0.2, high=2.0))

    def fn(F, x, t, *w):
        return F.cross_entropy(x, t, *w, reduction=reduction, **kw)
    needs = [True, False, False]
    compare(fn, *arrays, needs=needs[:len(arrays)], fd=x.size <= 20, device=device)
    compare(fn, *arrays, needs=needs[:len(arrays)], dtype="float32", device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", [{}, {"weight": True}, {"ignore_index": 0}, {"weight": True,
                                                                              "ignore_index": 2}],
                         ids=str)
@pytest.mark.parametrize("case", _ce_cases(), ids=lambda c: c[0])
def test_nll_loss_matches_torch(case, opts, reduction, device):
    _, x, t = case
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    kw = dict(opts)
    t = np.where(t == -100, kw.get("ignore_index", -100), t)
    arrays = [x, t] + ([rand(c, seed=5, low=0.2, high=2.0)] if kw.pop("weight", False) else [])
    compare(lambda F, x, t, *w: F.nll_loss(x, t, *w, reduction=reduction, **kw), *arrays,
            needs=[True, False, False][:len(arrays)], fd=x.size <= 20, device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2), (3,)])
def test_cross_entropy_class_probabilities_match_torch(shape, weight, smoothing, reduction, device):
    p = rand(*shape, seed=3, low=0.1, high=1)
    p = p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    c = shape[1] if len(shape) > 1 else shape[0]
    arrays = [rand(*shape, seed=1), p] + ([rand(c, seed=5, low=0.2, high=2)] if weight else [])
    compare(lambda F, x, t, *w: F.cross_entropy(x, t, *w, reduction=reduction, label_smoothing=smoothing),
            *arrays,
            needs=[True, True, False][:len(arrays)], fd=True, device=device)


def test_cross_entropy_gradcheck(device):
    gradcheck(lambda F, x: F.cross_entropy(x, gpunet.tensor([1, 0, 2], device=device)), rand(3, 3),
              device=device)
    gradcheck(lambda F, x: F.cross_entropy(x, gpunet.tensor([1, 0, 2], device=device), label_smoothing=0.3,
                                           weight=gpunet.tensor([0.5, 1.0, 2.0], dtype=gpunet.float64,
                                                                device=device)),
                                           rand(3, 3), device=device)
    gradcheck(lambda F, x: F.nll_loss(x, gpunet.tensor([[1, 0], [2, 2]], device=device), ignore_index=0),
              rand(2, 3, 2), device=device)


def test_cross_entropy_huge_logits_finite_and_correct(device):
    x = gpunet.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], requires_grad=True, device=device)
    t = gpunet.tensor([0, 1, 2], device=device)
    loss = F.cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(to_np(loss), [0.0, np.log(2), np.log(3)], rtol=1e-6, atol=1e-6)
    loss.sum().backward()
    g = to_np(x.grad)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g[1], [0.5, -0.5, 0.0], atol=1e-6)
    big = gpunet.tensor([[1e8, -1e8]], device=device)
    assert float(F.cross_entropy(big, gpunet.tensor([1], device=device))) == pytest.approx(2e8, rel=1e-6)


def test_cross_entropy_all_ignored_is_nan_like_torch(device):
    x = gpunet.randn(2, 3, requires_grad=True, device=device)
    loss = F.cross_entropy(x, gpunet.tensor([-100, -100], device=device))
    assert np.isnan(float(loss))
    assert float(F.cross_entropy(x, gpunet.tensor([-100, -100], device=device), reduction="sum")) == 0.0


def test_cross_entropy_errors(device):
    x = gpunet.randn(3, 4, device=device)
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds.*4 classes"):
        F.cross_entropy(x, gpunet.tensor([0, 4, 1], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(IndexError, match="Target -2 is out of bounds"):
        F.nll_loss(x, gpunet.tensor([0, -2, 1], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(x, gpunet.tensor([0, 1], device=device))
    with pytest.raises(RuntimeError, match="expected scalar type Long but found"):
        F.cross_entropy(x, gpunet.tensor([0.0, 1.0, 2.0], device=device))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 classes"):
        F.cross_entropy(x, gpunet.tensor([0, 1, 2], device=device), weight=gpunet.ones(3, device=device))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.cross_entropy(gpunet.randn(2, 3, 5, device=device), gpunet.zeros(2, 4, dtype=gpunet.int64,
                                                                           device=device))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, gpunet.tensor([0, 1, 2], device=device), label_smoothing=1.5)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.cross_entropy(x, gpunet.tensor([0, 1, 2], device=device), reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(weighted, reduction, device):
    x = rand(3, 4, seed=1, low=0.05, high=0.95)
    t = rand(3, 4, seed=2, low=0, high=1)
    arrays = [x, t] + ([rand(4, seed=3, low=0.5, high=2)] if weighted else [])
    needs = [True, True, False][:len(arrays)]  # torch refuses gradients for weight

    def fn(F, x, t, *w):
        return F.binary_cross_entropy(x, t, *w, reduction=reduction)
    compare(fn, *arrays, needs=needs, fd=True, device=device)
    compare(fn, *arrays, needs=needs, dtype="float32", device=device)
    if weighted:  # gpunet also differentiates the weight: check it by finite differences
        compare(fn, *arrays, fd=True, check_torch=False, device=device)


def test_binary_cross_entropy_at_zero_and_one_probabilities(device):
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    out = compare(lambda F, x, t: F.binary_cross_entropy(x, t, reduction="none"), x, t, needs=[True, False],
                  fd=False, device=device)  # central differences would step outside [0, 1]
    np.testing.assert_allclose(to_np(out), [0, 0, 100, 100, np.log(2)], rtol=1e-12)  # log clamped at -100


def test_binary_cross_entropy_errors(device):
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(gpunet.tensor([1.5, 0.5], device=device), gpunet.tensor([1.0, 0.0],
                                                                                       device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(ValueError, match="Using a target size .* that is different to the input size"):
        F.binary_cross_entropy(gpunet.rand(3, 1, device=device), gpunet.rand(3, device=device))
    with pytest.raises(ValueError, match="Target size .* must be the same as input size"):
        F.binary_cross_entropy_with_logits(gpunet.randn(3, 1, device=device), gpunet.rand(3, device=device))
    with pytest.raises(RuntimeError, match="expected a floating-point target"):
        F.binary_cross_entropy_with_logits(gpunet.randn(3, device=device), gpunet.tensor([0, 1, 1],
                                                                                         device=device))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight,pos_weight", [(False, False), (True, False), (False, True), (True, True)])
def test_bce_with_logits_matches_torch(weight, pos_weight, reduction, device):
    arrays = [rand(3, 4, seed=1, low=-4, high=4), rand(3, 4, seed=2, low=0, high=1)]
    names = []
    if weight:
        arrays.append(rand(3, 1, seed=3, low=0.5, high=2))
        names.append("weight")
    if pos_weight:
        arrays.append(rand(4, seed=4, low=0.5, high=3))
        names.append("pos_weight")

    def fn(F, x, t, *rest):
        return F.binary_cross_entropy_with_logits(x, t, reduction=reduction, **dict(zip(names, rest)))
    needs = [True, True] + [False] * len(names)  # torch refuses gradients for weight and pos_weight
    compare(fn, *arrays, needs=needs, fd=True, device=device)
    compare(fn, *arrays, needs=needs, dtype="float32", device=device)
    if names:  # gpunet also differentiates them: check by finite differences
        compare(fn, *arrays, fd=True, check_torch=False, device=device)


def test_bce_with_logits_stable_for_huge_logits(device):
    x = gpunet.tensor([1e4, -1e4, 100.0, -100.0], requires_grad=True, device=device)
    t = gpunet.tensor([0.0, 1.0, 1.0, 0.0], device=device)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(to_np(loss), [1e4, 1e4, 0.0, 0.0], atol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [1.0, -1.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(log_target, reduction, device):
    x = np.log(rand(3, 4, seed=1, low=0.1, high=1))
    t = rand(3, 4, seed=2, low=0.1, high=1)
    t = np.log(t) if log_target else t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns in both libraries
        compare(lambda F, x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target), x, t, fd=True,
                device=device)


def test_kl_div_zero_target_and_mean_warning(device):
    x = gpunet.tensor([[-1.0, -2.0]], device=device)
    assert float(F.kl_div(x, gpunet.tensor([[0.0, 1.0]], device=device),
                          reduction="sum")) == pytest.approx(2.0)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, gpunet.tensor([[0.5, 0.5]], device=device))


@pytest.mark.parametrize("red", REDUCTIONS)
def test_other_losses_match_torch(red, device):
    a, b = rand(4, 5, seed=1), rand(4, 5, seed=2)
    y = np.array([1.0, -1.0, 1.0, -1.0])
    compare(lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1, reduction=red), a, b, y,
            needs=[True, True, False], fd=True, device=device)
    compare(lambda F, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.2, reduction=red), a[:, 0], b[:, 0],
            y, needs=[True, True, False], fd=True, device=device)
    compare(lambda F, a, y: F.hinge_embedding_loss(a, y, margin=0.5, reduction=red), a[:, 0], y,
            needs=[True, False], fd=True, device=device)
    compare(lambda F, a, b: F.soft_margin_loss(a, b, reduction=red), a, np.sign(b), needs=[True, False],
            fd=True, device=device)
    compare(lambda F, a, b: F.multilabel_soft_margin_loss(a, b, reduction=red), a, (b > 0).astype(float),
            fd=True, device=device)
    compare(lambda F, a, b, c: F.triplet_margin_loss(a, b, c, margin=0.5, reduction=red), a, b,
            rand(4, 5, seed=3), fd=True, device=device)
    compare(lambda F, a, b, c: F.triplet_margin_loss(a, b, c, p=1, swap=True, reduction=red), a, b,
            rand(4, 5, seed=3), device=device)
    compare(lambda F, a, b: F.poisson_nll_loss(a, b, reduction=red), a, np.abs(b) * 2, fd=True,
            device=device)
    compare(lambda F, a, b: F.poisson_nll_loss(a, b, log_input=False, full=True, reduction=red),
            np.abs(a) + 0.1, np.abs(b) * 2, fd=True, device=device)
    compare(lambda F, a, b, v: F.gaussian_nll_loss(a, b, v, reduction=red), a, b,
            np.abs(rand(4, 5, seed=4)), fd=True, device=device)
    compare(lambda F, a, b, v: F.gaussian_nll_loss(a, b, v, full=True, reduction=red), a, b,
            np.abs(rand(4, 1, seed=4)), device=device)


def test_loss_outputs_keep_float32(device):
    x, t = gpunet.randn(4, 3, device=device), gpunet.randn(4, 3, device=device)
    for loss in (F.mse_loss(x, t), F.l1_loss(x, t), F.smooth_l1_loss(x, t), F.huber_loss(x, t),
                 F.cross_entropy(x, gpunet.tensor([0, 1, 2, 0],
                                                  device=device)), F.binary_cross_entropy_with_logits(x,
                                                                                                     t.sigmoid()),
                 F.binary_cross_entropy(x.sigmoid(), t.sigmoid()), F.kl_div(x, t.sigmoid(),
                                                                            reduction="batchmean")):
        assert loss.dtype == gpunet.float32 and loss.shape == ()
