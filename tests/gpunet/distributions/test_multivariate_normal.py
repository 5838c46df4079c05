"""MultivariateNormal: log_prob, entropy and the derived matrices for each of covariance_matrix,
precision_matrix and scale_tril against torch.distributions with every gradient, rsample's gradient,
batch broadcasting, sample shapes and statistics, errors."""
import numpy as np
import pytest

import gpunet
from gpunet.distributions import MultivariateNormal

from tests.helpers import compare, gradcheck, lib, to_numpy

KINDS = ["covariance_matrix", "precision_matrix", "scale_tril"]
# (loc shape, raw matrix shape, value shape): batch dims of loc and matrix broadcast; value against both
SHAPES = [((3,), (3, 3), (5, 3)), ((2, 3), (3, 3), (4, 1, 3)), ((3,), (2, 3, 3), (3,)),
          ((2, 1, 2), (3, 2, 2), (2, 3, 2))]


def _matrix(a, kind):
    """A valid parameter of this kind made from any square a, so every element of a is free."""
    eye = lib(a).eye(a.shape[-1], dtype=a.dtype, device=a.device)
    if kind == "scale_tril":
        return a.tril() + 3 * eye
    return a @ a.mT + eye


def _mvn(loc, a, kind, **kwargs):
    return lib(loc).distributions.MultivariateNormal(loc, **{kind: _matrix(a, kind)}, **kwargs)


def _arrays(loc_shape, matrix_shape, value_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=loc_shape), rng.uniform(-1, 1, size=matrix_shape), rng.normal(size=value_shape)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_and_entropy_match_torch(shapes, kind, device):
    loc, a, value = _arrays(*shapes)
    compare(lambda F, m, x, v: _mvn(m, x, kind).log_prob(v), loc, a, value, device=device, atol=1e-9)
    compare(lambda F, m, x: _mvn(m, x, kind).entropy(), loc, a, device=device, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_derived_matrices_and_moments_match_torch(kind, device):
    loc, a, _ = _arrays((2, 3), (3, 3), ())
    for attr in ("mean", "mode", "variance", "stddev", "covariance_matrix", "precision_matrix", "scale_tril"):
        compare(lambda F, m, x: getattr(_mvn(m, x, kind), attr), loc, a, device=device, atol=1e-9)


def test_gradcheck_log_prob_entropy_and_rsample(device):
    loc, a, value = _arrays((3,), (3, 3), (2, 3))

    def rsample(F, m, x):
        gpunet.manual_seed(0)
        return _mvn(m, x, "scale_tril").rsample((2,))

    for kind in KINDS:
        gradcheck(lambda F, m, x, v: _mvn(m, x, kind).log_prob(v), loc, a, value, device=device)
    gradcheck(lambda F, x: _mvn(gpunet.zeros(3, dtype=gpunet.float64, device=device), x,
                                "precision_matrix").entropy(), a, device=device)
    gradcheck(rsample, loc, a, device=device)


@pytest.mark.parametrize("loc_shape,matrix_shape", [((3,), (3, 3)), ((2, 3), (3, 3)), ((3,), (4, 3, 3))])
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 2)])
def test_sample_shapes(loc_shape, matrix_shape, sample_shape, device):
    batch = np.broadcast_shapes(loc_shape[:-1], matrix_shape[:-2])
    d = MultivariateNormal(gpunet.zeros(loc_shape, device=device),
                           gpunet.eye(3, device=device).expand(matrix_shape))
    assert d.batch_shape == batch and d.event_shape == (3,)
    for draw in (d.sample, d.rsample):
        x = draw(sample_shape)
        assert x.shape == sample_shape + batch + (3,) and x.dtype == gpunet.float32
    assert d.log_prob(d.sample(sample_shape)).shape == sample_shape + batch
    assert d.entropy().shape == batch


def test_sampling_statistics(device):
    gpunet.manual_seed(0)
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    d = MultivariateNormal(gpunet.tensor([1.0, -1.0, 0.0], device=device),
                           covariance_matrix=gpunet.tensor(cov, dtype=gpunet.float32, device=device))
    x = to_numpy(d.sample((20000,))).astype(np.float64)
    np.testing.assert_allclose(x.mean(0), [1.0, -1.0, 0.0], atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)


def test_expand(device):
    d = MultivariateNormal(gpunet.zeros(2, device=device), scale_tril=gpunet.eye(2, device=device))
    e = d.expand((4,))
    assert e.batch_shape == (4,) and e.sample((3,)).shape == (3, 4, 2) and e.scale_tril.shape == (4, 2, 2)


def test_errors_name_distribution_argument_and_expectation(device):
    loc, eye = gpunet.zeros(2, device=device), gpunet.eye(2, device=device)
    with pytest.raises(ValueError, match=r"Exactly one of covariance_matrix or precision_matrix or "
                                         r"scale_tril may be specified \(MultivariateNormal got none\)"):
        MultivariateNormal(loc)
    with pytest.raises(ValueError, match=r"\(MultivariateNormal got covariance_matrix, scale_tril\)"):
        MultivariateNormal(loc, eye, scale_tril=eye)
    with pytest.raises(ValueError, match=r"loc must be at least one-dimensional \(MultivariateNormal"):
        MultivariateNormal(gpunet.tensor(0.0, device=device), eye)
    with pytest.raises(ValueError, match=r"covariance_matrix matrix must be at least two-dimensional"):
        MultivariateNormal(loc, gpunet.ones(2, device=device))
    with pytest.raises(ValueError, match=r"MultivariateNormal: covariance_matrix of shape \(2, 2\) does not "
                                         r"fit loc of shape \(3,\): expected 3 x 3 matrices"):
        MultivariateNormal(gpunet.zeros(3, device=device), eye)
    with pytest.raises(ValueError, match=r"batch shapes of loc \(2, 2\) and scale_tril \(3, 2, 2\)"):
        MultivariateNormal(gpunet.zeros(2, 2, device=device), scale_tril=eye.expand(3, 2, 2))
    with pytest.raises(ValueError, match=r"parameter covariance_matrix \(Tensor of shape \(2, 2\)\) of "
                                         r"distribution MultivariateNormal.* PositiveDefinite\(\)"):
        MultivariateNormal(loc, -eye)
    with pytest.raises(ValueError, match=r"parameter precision_matrix .*PositiveDefinite"):
        MultivariateNormal(loc, precision_matrix=gpunet.tensor([[1.0, 2.0], [0.0, 1.0]], device=device))
    with pytest.raises(ValueError, match=r"parameter scale_tril .*LowerCholesky\(\)"):
        MultivariateNormal(loc, scale_tril=gpunet.ones(2, 2, device=device))
    with pytest.raises(ValueError, match=r"right-most size of value must match event_shape: "
                                         r"gpunet.Size\(\[4, 3\]\) vs gpunet.Size\(\[2\]\)"):
        MultivariateNormal(loc, eye).log_prob(gpunet.zeros(4, 3, device=device))
    with pytest.raises(RuntimeError, match="not positive-definite"):  # unchecked, the factorisation fails
        MultivariateNormal(loc, -eye, validate_args=False)
