"""check_layer: a layer built in gpunet and in torch with the same weights gives the same results.

    check_layer(lambda nn: nn.Conv2d(3, 4, 3), x_array)

builds both modules (same constructor call with nn = gpunet.nn / torch.nn), checks that their state_dicts
have the same keys, shapes and dtypes, copies torch's values into gpunet through NumPy, runs both on
the same inputs, and compares outputs, input gradients, parameter gradients and buffers (running stats).
"""
import numpy as np

import gpunet
import gpunet.nn as gnn

from .nn_helpers import TOL, to_np, torch

if torch is not None:
    import torch.nn as tnn


def state_layout(module):
    return {k: (tuple(v.shape), str(v.dtype).split(".")[-1]) for k, v in module.state_dict().items()}


def port(src, dst):
    """Copy src's state_dict values into dst through NumPy (either direction, gpunet <-> torch)."""
    if isinstance(dst, gnn.Module):
        dst.load_state_dict({k: gpunet.tensor(v.detach().cpu().numpy()) for k, v in src.state_dict().items()})
    else:
        dst.load_state_dict({k: torch.tensor(to_np(v)) for k, v in src.state_dict().items()})


def check_layer(make, *arrays, dtype="float64", train=True, steps=1, atol=None, rtol=None, device="cpu",
                needs=None):
    """needs[i] False: float input i does not require grad.

    Returns (gpunet module, torch module, gpunet outputs of the last step).
    """
    d_atol, d_rtol = TOL[dtype]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    tm = make(tnn).to(getattr(torch, dtype))
    gm = make(gnn).to(getattr(gpunet, dtype))
    assert state_layout(gm) == state_layout(tm), f"state_dict layout {state_layout(gm)} vs {state_layout(tm)}"
    assert [n for n, _ in gm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    port(tm, gm)
    gm.to(device)
    gm.train(train)
    tm.train(train)
    for step in range(steps):
        arrs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
        req = [a.dtype.kind == "f" and (needs is None or needs[i]) for i, a in enumerate(arrs)]
        xs = [gpunet.tensor(a, device=device, requires_grad=r) for a, r in zip(arrs, req)]
        ts = [torch.tensor(a, requires_grad=r) for a, r in zip(arrs, req)]
        out, tout = gm(*xs), tm(*ts)
        outs = out if isinstance(out, tuple) else (out,)
        touts = tout if isinstance(tout, tuple) else (tout,)
        rng = np.random.default_rng(step)
        seeds = []
        for o, t in zip(outs, touts):
            assert tuple(o.shape) == tuple(t.shape), f"shape {tuple(o.shape)} vs torch {tuple(t.shape)}"
            assert o.dtype.name == str(t.dtype).split(".")[-1]
            np.testing.assert_allclose(to_np(o), to_np(t), atol=atol, rtol=rtol, err_msg="forward output")
            seeds.append(rng.uniform(-1, 1, size=tuple(o.shape)) if t.requires_grad else None)
        pairs = [(o, t, s) for o, t, s in zip(outs, touts, seeds) if s is not None]
        if pairs:
            gpunet.autograd.backward([o for o, _, _ in pairs],
                                     [gpunet.tensor(s, dtype=o.dtype, device=device) for o, _, s in pairs])
            torch.autograd.backward([t for _, t, _ in pairs], [torch.tensor(s, dtype=t.dtype) for _, t,
                                                               s in pairs])
        for i, (x, t) in enumerate(zip(xs, ts)):
            if t.grad is not None or x.grad is not None:
                np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), atol=atol, rtol=rtol,
                                           err_msg=f"gradient of input {i}")
        for (name, p), (_, tp) in zip(gm.named_parameters(), tm.named_parameters()):
            if tp.grad is None:
                assert p.grad is None, f"{name}: gpunet has a gradient, torch has none"
                continue
            np.testing.assert_allclose(to_np(p.grad), to_np(tp.grad), atol=atol, rtol=rtol,
                                       err_msg=f"gradient of parameter {name}")
        for (name, b), (_, tb) in zip(gm.named_buffers(), tm.named_buffers()):
            np.testing.assert_allclose(to_np(b), to_np(tb), atol=atol, rtol=max(rtol, 1e-7), err_msg="buffer "
                                                                                                     f"{name}")
    return gm, tm, out
