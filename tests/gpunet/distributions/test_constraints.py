"""Constraints: PyTorch's reprs (they appear in error messages) and checks, against torch where installed."""
import math

import numpy as np
import pytest

import gpunet
from gpunet.distributions import constraints as C

from tests.helpers import to_numpy, torch

CASES = {  # name -> (gpunet constraint, torch constraint or None, values, expected check)
    "real": (C.real, "real", [0.0, -math.inf, math.nan], [True, True, False]),
    "positive": (C.positive, "positive", [1.0, 0.0, -1.0], [True, False, False]),
    "unit_interval": (C.unit_interval, "unit_interval", [0.0, 1.0, 1.5], [True, True, False]),
    "boolean": (C.boolean, "boolean", [0.0, 1.0, 0.5], [True, True, False]),
    "integer_interval": (C.integer_interval(0, 3), None, [0.0, 3.0, 1.5, 4.0], [True, True, False, False]),
    "simplex": (C.simplex, "simplex", [[0.5, 0.5], [1.5, -0.5], [0.2, 0.2]], [True, False, False]),
    "real_vector": (C.real_vector, "real_vector", [[0.0, 1.0], [math.nan, 0.0]], [True, False]),
    "lower_cholesky": (C.lower_cholesky, "lower_cholesky",
                       [[[1.0, 0.0], [2.0, 3.0]], [[1.0, 1.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, 1.0]]],
                       [True, False, False]),
    "positive_definite": (C.positive_definite, "positive_definite",
                          [[[2.0, 1.0], [1.0, 2.0]], [[1.0, 2.0], [2.0, 1.0]]], [True, False]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_checks_and_reprs(name, device):
    mine, theirs, values, expected = CASES[name]
    assert to_numpy(mine.check(gpunet.tensor(values, device=device))).tolist() == expected
    if torch is not None and theirs is not None:
        ref = getattr(torch.distributions.constraints, theirs)
        assert repr(mine) == repr(ref) and mine.event_dim == ref.event_dim
        assert ref.check(torch.tensor(np.array(values))).tolist() == expected


def test_parametrised_reprs():
    assert repr(C.greater_than(0.5)) == "GreaterThan(lower_bound=0.5)"
    assert repr(C.less_than(gpunet.tensor(2.0))) == "LessThan(upper_bound=2.0)"
    assert repr(C.interval(0.0, 1.0)) == "Interval(lower_bound=0.0, upper_bound=1.0)"
    assert repr(C.integer_interval(0, 3)) == "IntegerInterval(lower_bound=0, upper_bound=3)"
    assert repr(C.independent(C.real, 1)) == "IndependentConstraint(Real(), 1)"
    assert C.integer_interval(0, 3).is_discrete and not C.real.is_discrete
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    with pytest.raises(ValueError, match="dependent constraint"):
        C.dependent.check(gpunet.zeros(1))
