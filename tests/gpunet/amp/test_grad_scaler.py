"""GradScaler: scale/unscale_ round trip, a non-finite gradient skips the step and backs off the scale,
growth after growth_interval clean steps, state_dict round trip, PyTorch's errors, and a step-by-step
comparison with torch.amp.GradScaler('cpu')."""
import math

import numpy as np
import pytest

import gpunet
from tests.helpers import needs_torch, to_numpy


def _model(lib, device="cpu"):
    w = lib.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True, device=device)
    b = lib.tensor([0.1, -0.2], requires_grad=True, device=device)
    return w, b


def _loss(lib, w, b, x):
    return ((x @ w + b) ** 2).sum()


def test_scale_and_unscale_round_trip(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler(device, init_scale=1024.0)
    x = gpunet.tensor([[1.0, 2.0]], device=device)
    loss = _loss(gpunet, w, b, x)
    scaled = scaler.scale(loss)
    assert scaled.item() == pytest.approx(loss.item() * 1024.0)
    scaled.backward()
    ref_w, ref_b = _model(gpunet, device)
    _loss(gpunet, ref_w, ref_b, x).backward()
    np.testing.assert_allclose(to_numpy(w.grad), 1024.0 * to_numpy(ref_w.grad), rtol=1e-6)
    scaler.unscale_(opt)
    np.testing.assert_allclose(to_numpy(w.grad), to_numpy(ref_w.grad), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(b.grad), to_numpy(ref_b.grad), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this optimizer"):
        scaler.unscale_(opt)
    before = to_numpy(w)
    scaler.step(opt)  # already unscaled: not again
    np.testing.assert_allclose(to_numpy(w), before - 0.1 * to_numpy(ref_w.grad), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called since the last update\(\)"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)"):
        scaler.unscale_(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0 and scaler._get_growth_tracker() == 1
    assert scaler.scale([loss, (loss,)])[1][0].item() == pytest.approx(loss.item() * 1024.0)


def test_inf_gradient_skips_the_step_and_backs_off(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler(device, init_scale=8.0, backoff_factor=0.25)
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1.0, 2.0]], device=device))).backward()
    w.grad[1, 0] = math.inf  # an overflowed float16 gradient
    before = to_numpy(w), to_numpy(b)
    assert scaler.step(opt) is None
    np.testing.assert_array_equal(to_numpy(w), before[0])
    np.testing.assert_array_equal(to_numpy(b), before[1])
    scaler.update()
    assert scaler.get_scale() == 2.0 and scaler._get_growth_tracker() == 0


def test_nan_gradient_counts_too(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler(device, init_scale=4.0)
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1.0, 2.0]], device=device))).backward()
    b.grad[0] = math.nan
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0


def test_growth_after_growth_interval_clean_steps(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.0)
    scaler = gpunet.amp.GradScaler(device, init_scale=2.0, growth_factor=3.0, growth_interval=3)
    x = gpunet.tensor([[0.1, 0.2]], device=device)
    scales = []
    for _ in range(7):
        opt.zero_grad()
        scaler.scale(_loss(gpunet, w, b, x)).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    assert scales == [2.0, 2.0, 6.0, 6.0, 6.0, 18.0, 18.0]


def test_the_scale_never_grows_to_inf(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.0)
    scaler = gpunet.amp.GradScaler(device, init_scale=2.0 ** 126, growth_factor=4.0, growth_interval=1)
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1e-30, 0.0]], device=device))).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0 ** 126  # times 4 would overflow float32: kept


def test_state_dict_round_trip_and_update_new_scale(device):
    w, b = _model(gpunet, device)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler(device, init_scale=16.0, growth_interval=5)
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1.0, 1.0]], device=device))).backward()
    scaler.step(opt)
    scaler.update()
    sd = scaler.state_dict()
    assert sd == {"scale": 16.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
                  "_growth_tracker": 1}
    other = gpunet.amp.GradScaler(device)
    other.load_state_dict(sd)
    assert other.state_dict() == sd
    scaler.update(new_scale=4.0)
    assert scaler.get_scale() == 4.0
    scaler.update(new_scale=gpunet.tensor(32.0, device=device))
    assert scaler.get_scale() == 32.0
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        other.load_state_dict({})


def test_disabled_scaler_is_transparent():
    w, b = _model(gpunet)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler("cpu", enabled=False)
    loss = _loss(gpunet, w, b, gpunet.tensor([[1.0, 1.0]]))
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and not scaler.is_enabled()


def test_errors():
    w, b = _model(gpunet)
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="Attempted step but _scale is None"):
        scaler.step(opt)
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1.0, 1.0]]))).backward()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0.0)
    with pytest.raises(AssertionError, match="No inf checks were recorded prior to update"):
        scaler.update()
    h = gpunet.zeros(2, dtype=gpunet.float16, requires_grad=True)
    h.grad = gpunet.ones(2, dtype=gpunet.float16)
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(gpunet.optim.SGD([h], lr=0.1))
    with pytest.raises(ValueError, match="growth factor must be > 1.0"):
        gpunet.amp.GradScaler("cpu", growth_factor=1.0)


def test_one_device_read_per_step_on_cuda():
    if not (gpunet.cuda.is_available() and gpunet.cuda.is_simulated()):
        pytest.skip("counts the simulator's host reads")
    from kernels.cuda import strict_sim
    w, b = _model(gpunet, "cuda")
    opt = gpunet.optim.SGD([w, b], lr=0.1)
    scaler = gpunet.amp.GradScaler("cuda")
    scaler.scale(_loss(gpunet, w, b, gpunet.tensor([[1.0, 1.0]], device="cuda"))).backward()
    before = sum(strict_sim.syncs.values())
    scaler.step(opt)
    scaler.update()
    assert sum(strict_sim.syncs.values()) - before == 1


def test_matches_torch_grad_scaler_on_cpu():
    torch = needs_torch()
    xs = [[[1.0, 2.0]], [[0.5, 1.0]], [[0.1, -0.3]], [[1e-3, 2.0]], [[-1.0, 1.0]], [[0.2, 0.2]],
          [[0.3, 0.1]], [[0.4, 0.5]]]
    poison = {1: math.inf, 4: math.nan}  # an overflowed gradient at steps 1 and 4
    runs = {}
    for lib in (gpunet, torch):
        w, b = _model(lib)
        opt = lib.optim.Adam([w, b], lr=0.05)
        scaler = lib.amp.GradScaler("cpu", init_scale=256.0, growth_interval=2)
        trace = []
        for i, x in enumerate(xs):
            opt.zero_grad()
            scaler.scale(_loss(lib, w, b, lib.tensor(x))).backward()
            if i in poison:
                w.grad[0, 1] = poison[i]
            scaler.step(opt)
            scaler.update()
            trace.append((scaler.get_scale(), w.detach().numpy().copy(), b.detach().numpy().copy()))
        runs[lib.__name__] = trace, scaler.state_dict()
    (mine, my_sd), (theirs, their_sd) = runs["gpunet"], runs["torch"]
    assert my_sd == their_sd
    for (s1, w1, b1), (s2, w2, b2) in zip(mine, theirs):
        assert s1 == s2
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-6)
