"""In-place ops: values, the graph they record, version counters, and the errors PyTorch gives."""
import numpy as np
import pytest

import gpunet

from tests.helpers import check_op, lib

INPLACE = {
    "add_": lambda x: x.add_(2.0),
    "add_tensor_alpha": lambda x: x.add_(lib(x).ones(4, dtype=x.dtype, device=x.device), alpha=3),
    "sub_": lambda x: x.sub_(0.5),
    "mul_": lambda x: x.mul_(3.0),
    "div_": lambda x: x.div_(4.0),
    "pow_": lambda x: x.pow_(2),
    "neg_": lambda x: x.neg_(),
    "exp_": lambda x: x.exp_(),
    "sigmoid_": lambda x: x.sigmoid_(),
    "tanh_": lambda x: x.tanh_(),
    "relu_": lambda x: x.relu_(),
    "clamp_": lambda x: x.clamp_(-0.5, 0.5),
    "clamp_min_": lambda x: x.clamp_min_(0.1),
    "abs_": lambda x: x.abs_(),
    "sqrt_abs": lambda x: x.abs_().sqrt_(),
    "iadd": lambda x: x.__iadd__(1.5),
    "isub": lambda x: x.__isub__(1.5),
    "imul": lambda x: x.__imul__(lib(x).arange(4, dtype=x.dtype, device=x.device)),
    "itruediv": lambda x: x.__itruediv__(2.0),
    "masked_fill_": lambda x: x.masked_fill_(x > 0, 0.0),
    "setitem_scalar": lambda x: _setitem(x, 1, 7.0),
    "setitem_slice": lambda x: _setitem(x, (slice(None), slice(1, 3)), 0.0),
    "setitem_mask": lambda x: _setitem(x, x > 0.5, -1.0),
    "setitem_index": lambda x: _setitem(x, lib(x).tensor([0, 2]), 3.0),  # a cpu index on any device
    "fill_": lambda x: x.fill_(2.0),
    "zero_": lambda x: x.zero_(),
    "t_": lambda x: x.t_(),
    "unsqueeze_": lambda x: x.unsqueeze_(0),
}


def _setitem(x, idx, value):
    x[idx] = value
    return x


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_non_leaf_matches_torch(name, device):
    """The op runs on a non-leaf (x * 1) so autograd records it; grads flow back to the leaf."""
    op = INPLACE[name]
    check_op(lambda x: op(x * 1) * 1, (3, 4), device=device)


def test_inplace_returns_self_and_bumps_version(device):
    x = gpunet.ones(3, device=device)
    zeros = gpunet.zeros(3, device=device)
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.fill_(3.0),
               lambda t: t.clamp_(0, 1), lambda t: t.copy_(zeros), lambda t: t.normal_(),
               lambda t: t.uniform_(), lambda t: t.exp_(), lambda t: t.sub_(1), lambda t: t.div_(2)):
        v = x._version
        assert op(x) is x
        assert x._version == v + 1
    x += 1
    assert x._version == 12


def test_inplace_with_setitem_and_value_requiring_grad(device):
    torch = pytest.importorskip("torch")
    grads = []
    for lib_, dev in ((gpunet, device), (torch, "cpu")):
        base = lib_.zeros(2, 3, dtype=lib_.float64, requires_grad=True, device=dev)
        v = lib_.tensor([1.0, 2.0, 3.0], dtype=lib_.float64, requires_grad=True, device=dev)
        h = base * 2
        h[1] = v * v  # the written value is differentiable
        (h * lib_.arange(6, dtype=lib_.float64, device=dev).reshape(2, 3)).sum().backward()
        grads.append((base.grad.tolist(), v.grad.tolist()))
    assert grads[0] == grads[1]


def test_setitem_into_plain_tensor_from_requires_grad_value(device):
    v = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    buf = gpunet.zeros(3, 2, device=device)
    buf[0] = v * 3
    assert buf.requires_grad and buf.grad_fn is not None
    buf.sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]


def test_setitem_without_grad_broadcasts_and_casts(device):
    x = gpunet.zeros(2, 3, dtype=gpunet.int64, device=device)
    x[:, 1] = gpunet.tensor([5.7, 6.2], device=device)  # cast to the destination dtype
    x[0] = 1
    assert x.tolist() == [[1, 1, 1], [0, 6, 0]]
    y = gpunet.zeros(3, device=device)
    y[gpunet.tensor([True, False, True], device=device)] = gpunet.tensor([1.0, 2.0], device=device)
    y[[1]] = 9.0
    assert y.tolist() == [1.0, 9.0, 2.0]


def test_copy_(device):
    x = gpunet.zeros(2, 3, device=device)
    x.copy_(gpunet.tensor([1.0, 2.0, 3.0], device=device))  # broadcasts
    assert x.tolist() == [[1.0, 2.0, 3.0]] * 2
    y = gpunet.zeros(3, dtype=gpunet.int32, device=device)
    y.copy_(gpunet.tensor([1.9, 2.1, -3.5], device=device))
    assert y.tolist() == [1, 2, -3] and y.dtype == gpunet.int32
    src = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    z = gpunet.zeros(2, device=device)
    z.copy_(src * 2)
    z.sum().backward()
    assert src.grad.tolist() == [2.0, 2.0]
    with pytest.raises(TypeError):
        x.copy_([1, 2, 3])


def test_random_fills_change_values_and_follow_dtype(device):
    gpunet.manual_seed(0)
    x = gpunet.zeros(1000, dtype=gpunet.float64, device=device)
    x.normal_(2.0, 0.5)
    assert abs(x.mean().item() - 2.0) < 0.1 and abs(x.std().item() - 0.5) < 0.05 and x.dtype == gpunet.float64
    x.uniform_(-3, -1)
    assert -3 <= x.min().item() and x.max().item() < -1
    x.exponential_(2.0)
    assert x.min().item() >= 0 and abs(x.mean().item() - 0.5) < 0.1
    b = gpunet.zeros(1000, device=device).bernoulli_(0.25)
    assert set(b.tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.25) < 0.06
    r = gpunet.zeros(100, dtype=gpunet.int64, device=device).random_(0, 4)
    assert set(r.tolist()) <= {0, 1, 2, 3}


def test_fills_under_no_grad_on_leaf_parameters(device):
    w = gpunet.ones(3, requires_grad=True, device=device)
    with gpunet.no_grad():
        w.normal_()
        w.uniform_(-1, 1)
        w.fill_(0.5)
        w.zero_()
        w.mul_(2)
    assert w.requires_grad and w.is_leaf and w.tolist() == [0.0, 0.0, 0.0]
    for op in (lambda: w.fill_(1.0), lambda: w.zero_(), lambda: w.normal_(), lambda: w.mul_(2),
               lambda: w.clamp_(0, 1), lambda: w.copy_(gpunet.ones(3, device=device))):
        with pytest.raises(RuntimeError,
                           match="a leaf Variable that requires grad is being used in an in-place"):
            op()


def test_inplace_on_tensor_saved_for_backward_errors_at_backward(device):
    x = gpunet.ones(3, requires_grad=True, device=device)
    y = x * 2
    z = y.sigmoid()  # saves its output z
    z.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_that_does_not_invalidate_saved_values_is_fine(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = x * 3  # mul saves x and the constant, not y
    y.add_(1)
    (y * 1).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_inplace_grad_fn_is_rewritten(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = x * 1
    y.exp_()
    assert y.grad_fn.name() == "ExpBackward0"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_inplace_dtype_rules(device):
    x = gpunet.tensor([1, 2, 3], device=device)
    x.mul_(2)
    assert x.tolist() == [2, 4, 6] and x.dtype == gpunet.int64
    with pytest.raises(RuntimeError,
                       match="result type float.* can't be cast to the desired output type int64"):
        x.div_(2)
    f = gpunet.ones(2, device=device)
    f.add_(gpunet.tensor([1, 2], device=device))
    assert f.dtype == gpunet.float32 and f.tolist() == [2.0, 3.0]
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        gpunet.ones(2, device=device).add_(gpunet.ones(3, 2, device=device))


def test_grad_zero_and_sgd_update_idiom(device):
    w = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    (w * w).sum().backward()
    with gpunet.no_grad():
        w -= 0.1 * w.grad
    w.grad.zero_()
    assert w.tolist() == pytest.approx([0.8, 1.6]) and w.grad.tolist() == [0.0, 0.0] and w.is_leaf


def test_write_through_integer_index_reaches_the_storage(device):
    x = gpunet.zeros(3, device=device)
    x[0].add_(1)
    x[1].fill_(5)
    y = gpunet.zeros(2, 2, device=device)
    y[0, 1].fill_(3)
    y[1][0] = 4.0
    assert x.tolist() == [1.0, 5.0, 0.0] and y.tolist() == [[0.0, 3.0], [4.0, 0.0]]
    with gpunet.no_grad():
        w = gpunet.zeros(4, requires_grad=True, device=device)
        w[1:3].fill_(1.0)  # the LSTM forget-gate bias idiom
        w[0].add_(2.0)
    assert w.tolist() == [2.0, 1.0, 1.0, 0.0]


def test_inplace_on_view_of_tensor_requiring_grad_raises_clearly(device):
    """gpunet does not rebase a base's history after an in-place op through a view (PyTorch does):
    rather than give silently wrong gradients, it refuses."""
    x = gpunet.ones(3, requires_grad=True, device=device)
    h = x * 2
    for op in (lambda: h[0:2].zero_(), lambda: h[0].mul_(2), lambda: h.view(3).add_(1),
               lambda: h[1:].fill_(0.0), lambda: h.unsqueeze(1).t().clamp_(0, 1),
               lambda: h.unsqueeze(0).normal_()):
        with pytest.raises(RuntimeError, match="in-place operation on a view"):
            op()
    h[0:2] = 0.0  # index the base instead: recorded correctly
    (h * gpunet.arange(3.0, device=device)).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 4.0]


def test_inplace_after_matmul_of_batched_input(device):
    x = gpunet.randn(2, 3, 4, requires_grad=True, device=device)
    w = gpunet.randn(4, 5, requires_grad=True, device=device)
    y = x @ w  # the internal reshape of the batched product is not a view of a user tensor
    y.relu_()
    y.sum().backward()
    assert w.grad.shape == (4, 5) and x.grad.shape == (2, 3, 4)
