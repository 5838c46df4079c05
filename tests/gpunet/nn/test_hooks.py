"""nn.Module hooks: forward pre/post hooks (kwargs, prepend, always_call), full backward hooks."""

import numpy as np
import pytest

import gpunet
from gpunet.nn.module import Module
from tests.gpunet.nn.toy_modules import Linear


# ---- hooks ---------------------------------------------------------------------------------------
def test_forward_pre_and_forward_hooks():
    lin = Linear(2, 2)
    x = gpunet.ones(1, 2)
    base = lin(x).detach().numpy()
    log = []
    h1 = lin.register_forward_pre_hook(lambda m, args: log.append(("pre", len(args))))
    h2 = lin.register_forward_pre_hook(lambda m, args: args[0] * 2)  # non-tuple result is wrapped
    h3 = lin.register_forward_hook(lambda m, args, out: log.append(("fwd", out.shape)))
    h4 = lin.register_forward_hook(lambda m, args, out: out + 1)
    out = lin(x).detach().numpy()
    expected = (x * 2 @ lin.weight.t() + lin.bias).detach().numpy() + 1
    assert np.allclose(out, expected)
    assert log == [("pre", 1), ("fwd", (1, 2))]
    for h in (h1, h2, h3, h4):
        h.remove()
    h4.remove()  # removing twice is harmless
    assert np.allclose(lin(x).detach().numpy(), base)
    assert not lin._forward_hooks and not lin._forward_pre_hooks


def test_hooks_kwargs_prepend_always_call():
    class M(Module):
        def forward(self, x, scale=1.0):
            if scale == 0:
                raise ValueError("boom")
            return x * scale

    m = M()
    order = []
    m.register_forward_hook(lambda mod, a, o: order.append("second"))
    m.register_forward_hook(lambda mod, a, o: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, a, kw, o: o + kw["scale"], with_kwargs=True)
    assert m(gpunet.ones(1)).item() == 6.0
    assert order == ["first", "second"]
    n = M()
    called = []
    n.register_forward_hook(lambda mod, a, o: called.append(o), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        n(gpunet.ones(1), scale=0)
    assert called == [None]


def test_full_backward_hooks(device):
    class Scale(Module):
        def forward(self, x, y):
            return x * y * 2

    m = Scale()
    log = []
    h = m.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    x = gpunet.ones(2, requires_grad=True, device=device)
    y = gpunet.full((2,), 3.0, device=device)
    m(x, y).sum().backward()
    ((gi, go),) = log
    assert gi[0].tolist() == [6.0, 6.0] and gi[1] is None and go[0].tolist() == [1.0, 1.0]
    assert gi[0].device.type == device and go[0].device.type == device
    h.remove()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 10, None))
    x.grad = None
    m(x, y).sum().backward()
    assert x.grad.tolist() == [60.0, 60.0]
    p = Scale()
    p.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0,))
    x.grad = None
    p(x, y).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    # no input requires grad: the hook still runs, with grad_input of Nones
    q = Linear(2, 1).to(device)
    seen = []
    q.register_full_backward_hook(lambda mod, gi, go: seen.append(gi))
    q(gpunet.ones(1, 2, device=device)).sum().backward()
    assert seen == [(None,)] and q.weight.grad is not None


def test_call_without_hooks_goes_straight_to_forward():
    lin = Linear(2, 2)
    assert not (lin._forward_pre_hooks or lin._forward_hooks or lin._backward_hooks)
    calls = []
    lin._call_with_hooks = lambda *a: calls.append(a)  # must not be used when no hook is registered
    lin(gpunet.ones(1, 2))
    assert calls == []
