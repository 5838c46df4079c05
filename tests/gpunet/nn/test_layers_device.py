"""Every layer on the (simulated) cuda device equals the cpu result; module errors name the layer."""
import copy

import numpy as np
import pytest

import gpunet
import gpunet.nn as nn

from .nn_helpers import rand, to_np

X = rand(1, 2, 4, 3, seed=1).astype(np.float32)

DEVICE_LAYERS = [
    ("Linear", lambda: nn.Linear(3, 2), [X]),
    ("Bilinear", lambda: nn.Bilinear(3, 3, 2), [X, X * 0.5]),
    ("Conv2d", lambda: nn.Conv2d(2, 2, 2, padding=1), [X]),
    ("Conv2d-reflect", lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", groups=2), [X]),
    ("Conv1d", lambda: nn.Conv1d(2, 2, 2), [X[:, :, :, 0].copy()]),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(2, 2, 2, stride=2), [X]),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, ceil_mode=True), [X]),
    ("AvgPool2d", lambda: nn.AvgPool2d(2, 1, 1), [X]),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(2), [X]),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 1)), [X]),
    ("Flatten", lambda: nn.Flatten(), [X]),
    ("Unflatten", lambda: nn.Unflatten(2, (2, 2)), [X]),
    ("activations", lambda: nn.Sequential(nn.ReLU(), nn.GELU(), nn.SiLU(), nn.LeakyReLU(), nn.ELU(),
                                          nn.Tanh(),
                                          nn.Sigmoid(), nn.Softplus(), nn.Hardtanh(), nn.Mish(), nn.PReLU(2)),
     [X]),
    ("Softmax", lambda: nn.Softmax(dim=1), [X]),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), [X]),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(2), [X]),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(2), [X[0, :, :, 0].T.copy()]),
    ("LayerNorm", lambda: nn.LayerNorm(3), [X]),
    ("GroupNorm", lambda: nn.GroupNorm(1, 2), [X]),
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(2, affine=True), [X]),
    ("Embedding", lambda: nn.Embedding(5, 2, padding_idx=1), [np.array([[0, 1, 4], [4, 3, 1]])]),
    ("Upsample", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [X]),
    ("UpsampleNearest", lambda: nn.Upsample(size=(3, 5)), [X]),
    ("PixelShuffle", lambda: nn.PixelShuffle(1), [X]),
    ("ReplicationPad2d", lambda: nn.ReplicationPad2d((1, 0, 0, 1)), [X]),
    ("Dropout-eval", lambda: nn.Dropout(0.5).eval(), [X]),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(label_smoothing=0.1), [X[0, 0], np.array([0, 2, 1, 1])]),
    ("NLLLoss", lambda: nn.NLLLoss(), [X[0, 0], np.array([0, 2, 1, 1])]),
    ("MSELoss", lambda: nn.MSELoss(), [X, X * 2]),
    ("L1Loss", lambda: nn.L1Loss(), [X, X * 2]),
    ("SmoothL1Loss", lambda: nn.SmoothL1Loss(), [X, X * 2]),
    ("HuberLoss", lambda: nn.HuberLoss(), [X, X * 2]),
    ("BCELoss", lambda: nn.BCELoss(), [np.abs(X) / 3, np.abs(X * 0.1)]),
    ("BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(), [X, np.abs(X * 0.1)]),
    ("KLDivLoss", lambda: nn.KLDivLoss(reduction="batchmean"), [X, np.abs(X)]),
]


@pytest.mark.parametrize("make,arrays", [(m, a) for _, m, a in DEVICE_LAYERS], ids=[n for n, _,
                                                                                    _ in DEVICE_LAYERS])
def test_layer_cuda_equals_cpu(make, arrays):
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    gpunet.manual_seed(0)
    cpu = make()
    cuda = copy.deepcopy(cpu).to("cuda")
    results = []
    for m, dev in ((cpu, "cpu"), (cuda, "cuda")):
        xs = [gpunet.tensor(a, device=dev, requires_grad=a.dtype.kind == "f") for a in arrays]
        out = m(*xs)
        assert out.device.type == dev
        out.backward(gpunet.ones_like(out))
        results.append((to_np(out), [to_np(x.grad) for x in xs if x.requires_grad],
                        [to_np(p.grad) for p in m.parameters()], [to_np(b) for b in m.buffers()]))
    (o1, gx1, gp1, b1), (o2, gx2, gp2, b2) = results
    np.testing.assert_allclose(o2, o1, rtol=1e-5, atol=1e-6)
    for a, b in zip(gx1 + gp1 + b1, gx2 + gp2 + b2):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_module_to_cuda_moves_parameters_and_buffers():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    m = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.CrossEntropyLoss(weight=gpunet.ones(3)))
    m.to("cuda")
    assert all(p.device.type == "cuda" for p in m.parameters())
    assert all(b.device.type == "cuda" for b in m.buffers())


def test_linear_wrong_in_features_names_the_layer():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 5x2\) in "
                                           r"Linear\(in_features=5, out_features=2, bias=True\)"):
        nn.Linear(5, 2)(gpunet.randn(4, 3))


def test_conv_wrong_channels_names_expected_and_got_and_the_layer():
    with pytest.raises(RuntimeError,
                       match=r"to have 3 channels, but got 4 channels instead \(in Conv2d\(3, 8"):
        nn.Conv2d(3, 8, 3)(gpunet.randn(1, 4, 5, 5))
    with pytest.raises(RuntimeError, match="transposed=1.*to have 4 channels, but got 2"):
        nn.ConvTranspose2d(4, 2, 3)(gpunet.randn(1, 2, 5, 5))


def test_batchnorm_wrong_dims_and_channels():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input"):
        nn.BatchNorm2d(3)(gpunet.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(gpunet.randn(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        nn.BatchNorm1d(3)(gpunet.randn(2, 4))


def test_cross_entropy_module_target_out_of_range_names_class_count():
    with pytest.raises(IndexError, match="Target 7 is out of bounds.*for 5 classes"):
        nn.CrossEntropyLoss()(gpunet.randn(2, 5), gpunet.tensor([1, 7]))


def test_dropout_module_train_and_eval():
    gpunet.manual_seed(0)
    d = nn.Dropout(0.5)
    x = gpunet.ones(1000)
    y = to_np(d(x))
    assert 0.4 < (y == 0).mean() < 0.6 and set(np.unique(y)) <= {0.0, 2.0}
    d.eval()
    assert d(x) is x


def test_batchnorm_momentum_none_is_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [gpunet.randn(6, 2) for _ in range(3)]
    for b in batches:
        bn(b)
    mean = np.mean([to_np(b).mean(0) for b in batches], axis=0)
    np.testing.assert_allclose(to_np(bn.running_mean), mean, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 3


def test_batchnorm_eval_without_running_stats_uses_batch_stats():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    y = to_np(bn(gpunet.randn(8, 2)))
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
