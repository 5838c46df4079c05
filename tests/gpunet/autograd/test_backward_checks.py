"""The suite checks every Op's backward at its op (tests/conftest.py turns the check on): a planted
backward returning the wrong shape, dtype or device fails there, naming the op."""
import numpy as np
import pytest

import gpunet
from gpunet.autograd import function
from gpunet.autograd.function import Op


class WrongShape(Op):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g.sum(axis=0)  # drops a dimension


class WrongDtype(Op):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return (g * 2).astype(np.float32 if g.dtype == np.float64 else np.float64)


class Right(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, g):
        return None, g  # no gradient for an input that needs none


def test_the_suite_runs_with_backward_checks_on():
    assert function.checking_backward[0]


@pytest.mark.parametrize("op,problem", [(WrongShape, r"of shape \[3\] for an input of shape \[2, 3\]"),
                                        (WrongDtype, "of dtype float32 for an input of dtype float64")])
def test_a_wrong_backward_fails_at_its_op(op, problem, device):
    x = gpunet.ones(2, 3, dtype=gpunet.float64, device=device, requires_grad=True)
    y = op.apply(x).sum()
    with pytest.raises(RuntimeError, match=rf"{op.__name__}Backward \(.*{op.__name__}.backward\) returned a "
                                           rf"gradient {problem} at index 0"):
        y.backward()


def test_inputs_without_grad_are_not_checked(device):
    a = gpunet.ones(2, device=device)
    b = gpunet.ones(2, device=device, requires_grad=True)
    Right.apply(a, b).sum().backward()
    assert b.grad.tolist() == [1.0, 1.0]


def test_off_it_records_nothing(device):
    function.checking_backward[0] = False
    try:
        y = WrongShape.apply(gpunet.ones(2, 3, device=device, requires_grad=True))
    finally:
        function.checking_backward[0] = True
    assert "_input_meta" not in y.grad_fn.__dict__


def test_the_unchecked_fast_path_gives_the_same_gradients(device):
    """With the check off the engine calls an Op's backward inline; it must agree with the checked path."""
    grads = []
    for checking in (True, False):
        function.checking_backward[0] = checking
        try:
            x = gpunet.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], device=device, requires_grad=True)
            y = (x.exp() * x.sum(1, keepdim=True)).tanh().mean()
            y.backward()
        finally:
            function.checking_backward[0] = True
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]
