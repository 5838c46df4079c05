"""What the graph keeps alive and how the backward walk handles gradient arrays: nodes hold saved arrays (not
their Tensors), two gradients reaching one input are summed in place only into an array nothing else holds,
and a leaf keeps its gradient array without a copy only when nothing else holds it."""
import weakref

import numpy as np
import pytest

import gpunet
from gpunet import autograd


def _leaf(values, dtype=gpunet.float64, device="cpu"):
    return gpunet.tensor(values, dtype=dtype, requires_grad=True, device=device)


def test_graph_keeps_saved_arrays_not_their_tensors(device):
    # A node holds the arrays it saved and their version counters, not the Tensor objects: a long graph
    # gives Python's cyclic collector fewer objects to rescan. Versions are still checked, and a second
    # differentiation still reaches the saved input through the graph.
    a = _leaf([1.0, 2.0], device=device)
    h = a * 2
    held = weakref.ref(h)
    y = (h * h).sum()  # MulBackward saves h's array twice
    counter = h._vc
    del h
    assert held() is None
    (g,) = autograd.grad(y, a, create_graph=True)  # y = 4 a^2: g = 8 a
    np.testing.assert_allclose(g.tolist(), [8.0, 16.0])
    g.sum().backward()
    np.testing.assert_allclose(a.grad.tolist(), [8.0, 8.0])
    z = a * 3
    w = (z * z).sum()
    z.detach().add_(1)  # bumps the counter the node kept
    with pytest.raises(RuntimeError, match=r"\[float64 tensor of shape \[2\]\], saved for MulBackward0"):
        w.backward()
    assert counter[0] == 0


def test_fan_in_sum_is_in_place_only_into_an_array_the_walk_alone_holds():
    import kernels.cpu
    from gpunet.autograd import engine
    buffer = {0: np.ones(2)}
    prev = buffer.get(0)  # as the walk holds a buffered gradient
    assert engine._sum(prev, np.ones(2), kernels.cpu) is prev and prev.tolist() == [2.0, 2.0]
    held = prev
    assert engine._sum(prev, np.ones(2), kernels.cpu) is not prev and held.tolist() == [2.0, 2.0]
    del held
    view = buffer[1] = np.ones(4)[:2]
    prev = buffer.get(1)
    del view
    assert engine._sum(prev, np.ones(2), kernels.cpu) is not prev  # a view's base may be shared
    prev = buffer[2] = np.ones(2, np.float32)
    assert engine._sum(prev, np.ones(2), kernels.cpu).dtype == np.float64  # promoted: a new array


def test_fan_in_never_changes_a_gradient_held_elsewhere(device):
    a = _leaf([1.0, 2.0], device=device)
    h = a * 1
    ((h * 2).sum() + (h * 3).sum()).backward()  # two fresh gradients meet at h
    assert a.grad.tolist() == [5.0, 5.0]

    class PassThrough(autograd.Function):  # backward hands its incoming gradient on unchanged
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g

    for first in (True, False):  # either contribution may reach h first
        a.grad = None
        h = a * 1
        y = PassThrough.apply(h)
        kept = []
        y.register_hook(kept.append)  # the hook's caller keeps y's gradient, which also reaches h
        terms = [(y * 2).sum(), (h * 3).sum()]
        (terms[0] + terms[1] if first else terms[1] + terms[0]).backward()
        assert kept[0].tolist() == [2.0, 2.0] and a.grad.tolist() == [5.0, 5.0]
    x = a * 1
    a.grad = None
    (x + x + x).sum().backward()  # one array along several edges
    assert a.grad.tolist() == [3.0, 3.0]


def test_a_recorded_add_leaves_few_objects_for_the_cyclic_collector():
    # Each object a recorded op leaves alive counts toward Python's collections; on a long graph the full
    # ones rescan everything (a 10,000-add chain ran 11 us per op against 6.5 with two objects per add).
    # An add of same-shape tensors leaves its node, its edge tuple, its output Tensor and that Tensor's
    # version counter, and frees the Tensor it replaces: shared flag and index tuples, no shape tuples.
    import gc

    from gpunet.autograd.function import checking_backward
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    x = a + b
    gc.disable()
    checking_backward[0] = False  # the suite's per-op checks keep a list per op
    try:
        before = gc.get_count()[0]
        for _ in range(500):
            x = x + b
        per_add = (gc.get_count()[0] - before) / 500
    finally:
        gc.enable()
        checking_backward[0] = True
    assert per_add <= 2.1, per_add
    x.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [501.0, 501.0]


def test_a_broadcast_add_still_reduces_its_gradient(device):
    a, b = _leaf([[1.0], [2.0]], device=device), _leaf([1.0, 2.0, 3.0], device=device)
    (a + b).sum().backward()
    (a - b).sum().backward()
    assert a.grad.tolist() == [[6.0], [6.0]] and b.grad.tolist() == [0.0, 0.0, 0.0]


def test_one_gradient_array_reaching_two_leaves_is_copied(device):
    a, b = _leaf([1.0, 2.0], device=device), _leaf([3.0, 4.0], device=device)
    (a + b).sum().backward()  # add's backward passes the same array to both leaves
    a.grad.add_(10.0)
    assert b.grad.tolist() == [1.0, 1.0]


def test_a_gradient_the_backward_also_keeps_is_copied_into_the_leaf(device):
    kept = []

    class KeepsItsGradient(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            kept.append(g * 2)
            return kept[-1]

    x = _leaf([1.0, 2.0], device=device)
    KeepsItsGradient.apply(x).sum().backward()
    x.grad.add_(1.0)
    assert kept[0].tolist() == [2.0, 2.0] and x.grad.tolist() == [3.0, 3.0]


def test_a_fresh_leaf_gradient_is_kept_without_a_copy(monkeypatch, device):
    # The walk used to count arrays by id(); an id is reused once its array is freed, so a fresh weight
    # gradient often looked shared and was copied (1.6 MB a step in the MLP benchmark).
    from gpunet.autograd import engine
    flags, accumulate = [], engine._accumulate
    monkeypatch.setattr(engine, "_accumulate", lambda leaf, g, shared: (flags.append(shared),
                                                                        accumulate(leaf, g, shared)))
    gpunet.manual_seed(0)
    nn = gpunet.nn
    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 4))
    model.to(device)
    x = gpunet.randn(16, 64, device=device)
    for _ in range(20):
        model.zero_grad()
        model(x).square().mean().backward()
    assert len(flags) == 6 * 20 and not any(flags)
