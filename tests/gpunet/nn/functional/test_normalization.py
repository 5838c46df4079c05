"""batch/instance/layer/group norm, normalize, distances: vs torch, gradcheck, running stats."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from tests.helpers import compare, gradcheck, needs_torch, rand, simulated, to_np



@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_norm_training_matches_torch_including_running_stats(shape, affine, dtype, device):
    torch = needs_torch()
    x = rand(*shape, seed=1)
    wb = [rand(3, seed=2), rand(3, seed=3)] if affine else []
    rm0, rv0 = rand(3, seed=4), rand(3, seed=5, low=0.5, high=2)
    runs = {}

    def fn(Fm, x, *wb):
        lib, kw = (gpunet, {"device": x.device}) if Fm is F else (torch, {})
        rm = lib.tensor(rm0.astype(dtype), **kw)
        rv = lib.tensor(rv0.astype(dtype), **kw)
        runs[lib.__name__] = (rm, rv)
        return Fm.batch_norm(x, rm, rv, *wb, training=True, momentum=0.3, eps=1e-3)

    compare(fn, x, *wb, dtype=dtype, fd=dtype == "float64" and x.size < 30, device=device)
    tol = 1e-7 if dtype == "float64" else 1e-6  # torch rounds momentum to float32 on some paths
    for mine, ref in zip(runs["gpunet"], runs["torch"]):
        np.testing.assert_allclose(to_np(mine), ref.numpy(), rtol=tol, atol=tol)


def test_batch_norm_eval_uses_running_stats(device):
    rm, rv = rand(3, seed=4), rand(3, seed=5, low=0.5, high=2)

    def fn(Fm, x, w, b):
        lib, kw = (gpunet, {"device": x.device}) if Fm is F else (__import__("torch"), {})
        return Fm.batch_norm(x, lib.tensor(rm, **kw), lib.tensor(rv, **kw), w, b, training=False, eps=1e-4)
    compare(fn, rand(4, 3, 2, seed=1), rand(3, seed=2), rand(3, seed=3), fd=True, device=device)


def test_batch_norm_training_without_running_stats_and_gradcheck(device):
    gradcheck(lambda F, x, w, b: F.batch_norm(x, None, None, w, b, training=True), rand(3, 2, 2), rand(2,
                                                                                                       seed=1),
              rand(2, seed=2), device=device)
    gradcheck(lambda F, x: F.batch_norm(x, None, None, training=True), rand(4, 2), device=device)


def test_batch_norm_updates_running_stats_in_place_and_bumps_version(device):
    x = gpunet.tensor(rand(8, 3, seed=1), device=device)
    rm, rv = gpunet.zeros(3, dtype=gpunet.float64, device=device), gpunet.ones(3, dtype=gpunet.float64,
                                                                               device=device)
    v0 = rm._version
    F.batch_norm(x, rm, rv, training=True, momentum=0.1)
    a = to_np(x)
    np.testing.assert_allclose(to_np(rm), 0.1 * a.mean(0))
    np.testing.assert_allclose(to_np(rv), 0.9 + 0.1 * a.var(0, ddof=1))  # unbiased running variance
    assert rm._version > v0


def test_batch_norm_errors(device):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(gpunet.randn(1, 3, device=device), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        F.batch_norm(gpunet.randn(2, 3, device=device), gpunet.zeros(4, device=device),
                     gpunet.ones(4, device=device))
    with pytest.raises(RuntimeError, match="must be defined in evaluation mode"):
        F.batch_norm(gpunet.randn(2, 3, device=device), None, None, training=False)


@pytest.mark.parametrize("shape,norm", [((4, 5), (5,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((5,), (5,))])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_torch(shape, norm, affine, device):
    wb = {"both": [rand(*norm, seed=2), rand(*norm, seed=3)], "weight": [rand(*norm, seed=2)],
          "none": []}[affine]
    compare(lambda F, x, *wb: F.layer_norm(x, norm, *wb, eps=1e-4), rand(*shape, seed=1), *wb, fd=True,
            device=device)
    compare(lambda F, x, *wb: F.layer_norm(x, norm, *wb), rand(*shape, seed=1), *wb, dtype="float32",
            device=device)


def test_layer_norm_accepts_int_normalized_shape(device):
    x = gpunet.randn(2, 5, device=device)
    np.testing.assert_array_equal(to_np(F.layer_norm(x, 5)), to_np(F.layer_norm(x, (5,))))


def test_layer_norm_errors(device):
    with pytest.raises(RuntimeError,
                       match=r"Given normalized_shape=\[5\], expected input with shape \[\*, 5\]"):
        F.layer_norm(gpunet.randn(2, 3, 4, device=device), (5,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape as normalized_shape"):
        F.layer_norm(gpunet.randn(2, 4, device=device), (4,), gpunet.ones(3, device=device))


@pytest.mark.parametrize("groups,shape", [(2, (3, 4, 5)), (1, (2, 6, 2, 2)), (6, (2, 6, 3)), (3, (2, 6))])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_torch(groups, shape, affine, device):
    c = shape[1]
    wb = [rand(c, seed=2), rand(c, seed=3)] if affine else []
    compare(lambda F, x, *wb: F.group_norm(x, groups, *wb, eps=1e-4), rand(*shape, seed=1), *wb,
            fd=affine and np.prod(shape) <= 24, device=device)
    compare(lambda F, x, *wb: F.group_norm(x, groups, *wb), rand(*shape, seed=1), *wb, dtype="float32",
            device=device)


def test_group_norm_error(device):
    with pytest.raises(RuntimeError, match="Expected number of channels in input to be divisible by "
                                           "num_groups"):
        F.group_norm(gpunet.randn(2, 6, 4, device=device), 4)


def test_instance_norm_matches_torch_including_running_stats(device):
    torch = needs_torch()
    runs = {}

    def fn(Fm, x, w, b):
        lib = gpunet if Fm is F else torch
        where = device if lib is gpunet else "cpu"
        rm, rv = lib.zeros(3, dtype=lib.float64, device=where), lib.ones(3, dtype=lib.float64, device=where)
        runs[lib.__name__] = (rm, rv)
        return Fm.instance_norm(x, rm, rv, w, b, use_input_stats=True, momentum=0.2)
    compare(fn, rand(2, 3, 4, 3, seed=1), rand(3, seed=2), rand(3, seed=3), device=device)
    for mine, ref in zip(runs["gpunet"], runs["torch"]):
        np.testing.assert_allclose(to_np(mine), ref.numpy(), rtol=1e-12)
    compare(lambda F, x: F.instance_norm(x), rand(2, 3, 5, seed=1), fd=True, device=device)


@pytest.mark.parametrize("p,dim", [(2, 1), (1, 0), (3.0, -1), (float("inf"), 1)])
def test_normalize_matches_torch(p, dim, device):
    compare(lambda F, x: F.normalize(x, p, dim), rand(3, 4, seed=1), fd=True, device=device)


def test_normalize_zero_vector_is_zero_with_finite_grad(device):
    x = gpunet.zeros(2, 3, requires_grad=True, device=device)
    y = F.normalize(x, dim=1)
    assert (to_np(y) == 0).all()
    y.sum().backward()
    assert np.isfinite(to_np(x.grad)).all()


@pytest.mark.parametrize("dim,shapes", [(1, ((3, 4), (3, 4))), (0, ((4,), (4,))), (-1, ((2, 1, 4), (3, 4)))])
def test_cosine_similarity_matches_torch(dim, shapes, device):
    compare(lambda F, a, b: F.cosine_similarity(a, b, dim=dim), rand(*shapes[0], seed=1), rand(*shapes[1],
                                                                                               seed=2),
            fd=True, device=device)


def test_cosine_similarity_tiny_norms_match_torch(device):
    a, b = rand(2, 3, seed=1) * 1e-9, rand(2, 3, seed=2)
    # no finite differences: a step of 1e-6 is a thousand times the inputs, across the norm's eps clamp
    compare(lambda F, a, b: F.cosine_similarity(a, b), a, b, atol=1e-8, fd=False, device=device)


@pytest.mark.parametrize("p,keepdim", [(2, False), (1, True), (3, False)])
def test_pairwise_distance_matches_torch(p, keepdim, device):
    compare(lambda F, a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim), rand(3, 4, seed=1),
            rand(3, 4, seed=2), fd=True, device=device)
    compare(lambda F, a, b: F.pairwise_distance(a, b), rand(4, seed=1), rand(4, seed=2), device=device)


def test_local_response_norm_matches_torch(device):
    # runs the avg_pool2d kernel: finite differences on a smaller input in the simulator (~25 ms a launch)
    x = rand(1, 5, 2, seed=1) if simulated(device) else rand(2, 5, 4, seed=1)
    compare(lambda F, x: F.local_response_norm(x, 3), x, fd=True, device=device)
    compare(lambda F, x: F.local_response_norm(x, 2, alpha=0.1, k=2.0), rand(2, 5, 3, 3, seed=1),
            device=device)
