"""Custom autograd.Function: ctx.save_for_backward / saved_tensors / needs_input_grad /
mark_non_differentiable."""
import numpy as np
import pytest

import gpunet
from gpunet.autograd import Function


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 3 * x * x * grad_output


class ScaleShift(Function):
    """f(x, scale, shift) with non-tensor arguments mixed in."""

    calls: list = []  # noqa: RUF012  (records ctx.needs_input_grad per call)

    @staticmethod
    def forward(ctx, x, scale, y, shift):
        ctx.scale = scale
        ctx.save_for_backward(x, y)
        ScaleShift.calls.append(ctx.needs_input_grad)
        return x * scale * y + shift

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        gx = grad_output * ctx.scale * y if ctx.needs_input_grad[0] else None
        gy = grad_output * ctx.scale * x if ctx.needs_input_grad[2] else None
        return gx, None, gy, None


class SortWithIndices(Function):
    @staticmethod
    def forward(ctx, x):
        order = np.argsort(x.detach().cpu().numpy(), kind="stable")
        idx = gpunet.tensor(order, device=x.device)
        ctx.save_for_backward(idx)
        values = x[idx]
        ctx.mark_non_differentiable(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g_values, g_idx):
        (idx,) = ctx.saved_tensors
        out = gpunet.zeros_like(g_values)
        out[idx] = g_values
        return out


def test_function_forward_backward(device):
    x = gpunet.tensor([1.0, -2.0], dtype=gpunet.float64, requires_grad=True, device=device)
    y = Cube.apply(x)
    assert y.tolist() == [1.0, -8.0] and y.grad_fn is not None and not y.is_leaf
    assert "CubeBackward" in type(y.grad_fn).__name__
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
    assert gpunet.autograd.gradcheck(Cube.apply, (x,))


def test_function_in_larger_graph_matches_torch(device):
    torch = pytest.importorskip("torch")

    class TCube(torch.autograd.Function):
        forward = Cube.forward
        backward = Cube.backward

    a = np.array([0.5, -1.5, 2.0])
    x = gpunet.tensor(a, requires_grad=True, device=device)
    tx = torch.tensor(a, requires_grad=True)
    (Cube.apply(x.sin()) * x).sum().backward()
    (TCube.apply(tx.sin()) * tx).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-12)


def test_needs_input_grad_and_non_tensor_args(device):
    ScaleShift.calls.clear()
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = gpunet.tensor([3.0, 4.0], device=device)
    out = ScaleShift.apply(x, 2.0, y, 1.0)
    assert ScaleShift.calls[-1] == (True, False, False, False)
    assert out.tolist() == [7.0, 17.0]
    out.sum().backward()
    assert x.grad.tolist() == [6.0, 8.0] and y.grad is None
    y.requires_grad_()
    ScaleShift.apply(x.detach(), 2.0, y, 1.0).sum().backward()
    assert ScaleShift.calls[-1] == (False, False, True, False)
    assert y.grad.tolist() == [2.0, 4.0]


def test_no_graph_when_nothing_requires_grad_or_under_no_grad(device):
    out = Cube.apply(gpunet.tensor([2.0], device=device))
    assert out.grad_fn is None and not out.requires_grad
    x = gpunet.tensor([2.0], requires_grad=True, device=device)
    with gpunet.no_grad():
        out = Cube.apply(x)
    assert out.grad_fn is None and not out.requires_grad


def test_forward_runs_without_recording(device):
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            seen.append(y.requires_grad)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = gpunet.ones(2, requires_grad=True, device=device)
    Probe.apply(x).sum().backward()
    assert seen == [False] and x.grad.tolist() == [2.0, 2.0]


def test_mark_non_differentiable(device):
    x = gpunet.tensor([3.0, 1.0, 2.0], requires_grad=True, device=device)
    values, idx = SortWithIndices.apply(x)
    assert values.requires_grad and not idx.requires_grad and idx.dtype == gpunet.int64
    assert values.tolist() == [1.0, 2.0, 3.0] and idx.tolist() == [1, 2, 0]
    (values * gpunet.tensor([1.0, 10.0, 100.0], device=device)).sum().backward()
    assert x.grad.tolist() == [100.0, 1.0, 10.0]


def test_none_grad_for_unused_output_is_materialised(device):
    class TwoOut(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = gpunet.ones(2, requires_grad=True, device=device)
    a, _ = TwoOut.apply(x)
    a.sum().backward()  # the second output is unused: its grad arrives as zeros
    assert x.grad.tolist() == [2.0, 2.0]


def test_saved_tensors_version_check(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    h = x * 1
    y = Cube.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_saved_tensors_freed_after_backward(device):
    x = gpunet.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = Cube.apply(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        _ = y.grad_fn.saved_tensors
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()
    z = Cube.apply(x)
    z.sum().backward(retain_graph=True)
    z.sum().backward()
    assert x.grad.tolist() == [9.0, 36.0]


def test_wrong_number_of_grads_and_wrong_shape(device):
    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return gpunet.ones(5, device=g.device)

    x = gpunet.ones(2, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        BadShape.apply(x).sum().backward()


def test_extra_trailing_none_grads_are_allowed(device):
    class ExtraNone(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None

    x = gpunet.ones(2, requires_grad=True, device=device)
    ExtraNone.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_function_without_backward(device):
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

    x = gpunet.ones(1, requires_grad=True, device=device)
    with pytest.raises(NotImplementedError, match="backward"):
        NoBackward.apply(x).sum().backward()


def test_mixed_devices_in_function():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    with pytest.raises(RuntimeError, match="cpu.*cuda:0|cuda:0.*cpu"):
        ScaleShift.apply(gpunet.ones(2, requires_grad=True), 1.0, gpunet.ones(2, device="cuda"), 0.0)


def test_once_differentiable_decorator_is_accepted(device):
    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        @gpunet.autograd.once_differentiable
        def backward(ctx, g):
            return g * 2

    x = gpunet.ones(1, requires_grad=True, device=device)
    Twice.apply(x).backward()
    assert x.grad.tolist() == [2.0]
