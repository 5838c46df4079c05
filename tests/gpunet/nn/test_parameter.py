"""nn.Parameter: construction, repr, deepcopy and grads."""
import copy

import numpy as np
import pytest

import gpunet
from gpunet.nn.parameter import Parameter


# ---- Parameter -----------------------------------------------------------------------------------
def test_parameter_basics():
    t = gpunet.randn(2, 3)
    p = Parameter(t)
    assert isinstance(p, gpunet.Tensor) and isinstance(p, Parameter)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p.data_ptr() == t.data_ptr()  # shares the storage
    assert (
        type(p.data) is gpunet.Tensor and type(p * 2) is gpunet.Tensor and type(p.detach()) is gpunet.Tensor
    )
    assert repr(p).startswith("Parameter containing:\ntensor([[") and repr(p).endswith("requires_grad=True)")
    assert (
        repr(Parameter(gpunet.tensor([1, 2]), requires_grad=False)) == "Parameter containing:\ntensor([1, 2])"
    )
    assert Parameter().shape == (0,)
    nonleaf = gpunet.ones(2, requires_grad=True) * 2
    q = Parameter(nonleaf)
    assert q.is_leaf and q.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        Parameter(gpunet.zeros(2, dtype=gpunet.int64))
    with pytest.raises(TypeError, match="must be a Tensor"):
        Parameter([1.0, 2.0])


def test_parameter_deepcopy_and_grad(device):
    p = Parameter(gpunet.randn(3, device=device))
    (p * p).sum().backward()
    p.tag = "decoder"
    q = copy.deepcopy(p)
    assert type(q) is Parameter and q is not p and q.requires_grad and q.tag == "decoder"
    assert q.device.type == device and q.grad.device.type == device
    assert np.array_equal(q.detach().cpu().numpy(), p.detach().cpu().numpy()) and q.data_ptr() != p.data_ptr()
    assert np.array_equal(q.grad.cpu().numpy(), p.grad.cpu().numpy())
    assert type(Parameter._from_tensor(gpunet.zeros(2))) is Parameter
