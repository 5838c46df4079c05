"""nn.utils: gradient clipping (vs PyTorch), parameter <-> vector conversion, safetensors state dicts."""

import math

import numpy as np
import pytest

import gpunet
from gpunet.nn import utils
from gpunet.nn.parameter import Parameter


def _params_with_grads(device="cpu", seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2), (1,)]
    params, arrays = [], []
    for s in shapes:
        w, g = rng.standard_normal(s).astype(np.float32), (rng.standard_normal(s) * scale).astype(np.float32)
        p = Parameter(gpunet.tensor(w, device=device))
        p.grad = gpunet.tensor(g, device=device)
        params.append(p)
        arrays.append((w, g))
    return params, arrays


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, device):
    torch = pytest.importorskip("torch")
    params, arrays = _params_with_grads(device)
    tparams = []
    for w, g in arrays:
        tp = torch.nn.Parameter(torch.tensor(w))
        tp.grad = torch.tensor(g)
        tparams.append(tp)
    ours = utils.clip_grad_norm_(params, max_norm, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert ours.dtype == gpunet.float32 and ours.shape == () and ours.device.type == device
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.cpu().numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_reference(device):
    params, arrays = _params_with_grads(device)
    g_before = [p.grad for p in params]
    total = utils.clip_grad_norm_(params, 1.0)
    want = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for _, g in arrays))
    assert total.device.type == device and total.item() == pytest.approx(want, rel=1e-5)
    new_norm = math.sqrt(sum(float((p.grad.cpu().numpy().astype(np.float64) ** 2).sum()) for p in params))
    assert new_norm == pytest.approx(1.0, rel=1e-4)
    assert all(p.grad is g for p, g in zip(params, g_before))  # scaled in place
    # a single tensor, a generator, and parameters without grads are accepted
    p = Parameter(gpunet.ones(4, device=device))
    p.grad = gpunet.full((4,), 2.0, device=device)
    assert utils.clip_grad_norm_(p, 100.0).item() == pytest.approx(4.0)
    assert p.grad.cpu().numpy().tolist() == [2.0] * 4
    assert utils.clip_grad_norm_((q for q in [Parameter(gpunet.ones(2))]), 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite(device):
    params, _ = _params_with_grads(device)
    params[1].grad = gpunet.tensor([1.0, float("inf"), 0.0, 0.0], device=device)
    with pytest.raises(
        RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"
    ):
        utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert math.isinf(utils.clip_grad_norm_(params, 1.0).item())


def test_clip_grad_value(device):
    params, arrays = _params_with_grads(device)
    assert utils.clip_grad_value_(params, 0.5) is None
    for p, (_, g) in zip(params, arrays):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), np.clip(g, -0.5, 0.5))


def test_get_total_norm_mixed_devices():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    a = gpunet.full((2,), 3.0)
    b = gpunet.full((1,), 4.0, device="cuda")
    total = utils.get_total_norm([a, b])
    assert total.device.type == "cpu" and total.item() == pytest.approx(math.sqrt(34))


def test_parameters_vector_roundtrip(device):
    params, arrays = _params_with_grads(device)
    vec = utils.parameters_to_vector(params)
    assert vec.shape == (sum(w.size for w, _ in arrays),) and vec.device.type == device
    np.testing.assert_array_equal(vec.detach().cpu().numpy(), np.concatenate([w.ravel() for w, _ in arrays]))
    vec.sum().backward()  # differentiable
    new = gpunet.arange(vec.numel(), dtype=gpunet.float32, device=device)
    ids = [id(p) for p in params]
    utils.vector_to_parameters(new, params)
    assert [id(p) for p in params] == ids and params[1].detach().cpu().numpy().tolist() == [12, 13, 14, 15]
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        utils.vector_to_parameters([1.0], params)
    with pytest.raises(RuntimeError, match="vector_to_parameters: vec has shape \\[3\\]"):
        utils.vector_to_parameters(gpunet.zeros(3), params)


def test_parameters_on_two_devices_rejected():
    if not gpunet.cuda.is_available():
        pytest.skip("cuda device not available")
    ps = [Parameter(gpunet.zeros(1)), Parameter(gpunet.zeros(1, device="cuda"))]
    with pytest.raises(TypeError, match="Found two parameters on different devices"):
        utils.parameters_to_vector(ps)


# ---- safetensors ---------------------------------------------------------------------------------
def _state():
    return {
        "w": gpunet.randn(3, 4),
        "b": gpunet.arange(5, dtype=gpunet.int64),
        "h": gpunet.ones(2, dtype=gpunet.float16),
        "m": gpunet.tensor([True, False]),
        "s": gpunet.tensor(2.5, dtype=gpunet.float64),
        "t": gpunet.arange(6, dtype=gpunet.float32).reshape(2, 3).t(),
    }  # non-contiguous


def test_safetensors_roundtrip(tmp_path, device):
    sd = {k: v.to(device) for k, v in _state().items()}
    path = tmp_path / "model.safetensors"
    utils.save_safetensors(sd, path, metadata={"epoch": "3"})
    out = utils.load_safetensors(path, device=device)
    assert set(out) == set(sd)
    for k, v in sd.items():
        assert out[k].dtype == v.dtype and out[k].device.type == device and out[k].shape == v.shape
        np.testing.assert_array_equal(out[k].cpu().numpy(), v.cpu().numpy())
    import safetensors

    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"epoch": "3"}


def test_safetensors_shared_tensors(tmp_path):
    w = Parameter(gpunet.randn(3, 3))
    sd = {"enc.weight": w.detach(), "dec.weight": w.detach(), "x": gpunet.zeros(1)}
    with pytest.raises(RuntimeError, match="some tensors share memory \\('dec.weight' with 'enc.weight'\\)"):
        utils.save_safetensors(sd, tmp_path / "a.safetensors")
    assert not (tmp_path / "a.safetensors").exists()
    utils.save_safetensors(sd, tmp_path / "a.safetensors", dedupe=True)
    out = utils.load_safetensors(tmp_path / "a.safetensors")
    assert out["dec.weight"] is out["enc.weight"]
    np.testing.assert_array_equal(out["dec.weight"].numpy(), w.detach().numpy())
    base = gpunet.arange(10.0)
    with pytest.raises(RuntimeError, match="share memory"):  # partial overlap cannot be deduplicated
        utils.save_safetensors({"a": base[:6], "b": base[4:]}, tmp_path / "b.safetensors", dedupe=True)
    utils.save_safetensors(
        {"a": base[:5], "b": base[5:]}, tmp_path / "b.safetensors"
    )  # disjoint views are fine


def test_safetensors_errors(tmp_path):
    with pytest.raises(TypeError, match="expected str -> Tensor"):
        utils.save_safetensors({"a": np.zeros(2)}, tmp_path / "x")
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        utils.save_safetensors({"a": gpunet.zeros(1)}, tmp_path / "x", metadata={"a": 1})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(RuntimeError, match="bad.safetensors: not a valid safetensors file"):
        utils.load_safetensors(bad)


def test_safetensors_torch_interop(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    sd = _state()
    path = tmp_path / "ours.safetensors"
    utils.save_safetensors(sd, path)
    theirs = st_torch.load_file(str(path))
    for k, v in sd.items():
        np.testing.assert_array_equal(theirs[k].numpy(), v.numpy())
        assert str(theirs[k].dtype).replace("torch.", "") == v.dtype.name
    tpath = tmp_path / "theirs.safetensors"
    tsd = {
        "fc.weight": torch.randn(2, 3),
        "steps": torch.tensor([1, 2], dtype=torch.int32),
        "mask": torch.tensor([True]),
    }
    st_torch.save_file(tsd, str(tpath))
    out = utils.load_safetensors(tpath)
    for k, v in tsd.items():
        np.testing.assert_array_equal(out[k].numpy(), v.numpy())
    assert out["steps"].dtype == gpunet.int32
    bf = tmp_path / "bf16.safetensors"
    st_torch.save_file({"x": torch.zeros(2, dtype=torch.bfloat16)}, str(bf))
    with pytest.raises((TypeError, RuntimeError), match="bf16.safetensors"):
        utils.load_safetensors(bf)
