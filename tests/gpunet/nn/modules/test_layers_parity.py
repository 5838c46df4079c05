"""Every layer against torch with the same weights: outputs, input/parameter grads, buffers, state_dict."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F
from gpunet import nn

from tests.helpers import check_layer, port, rand, state_layout, to_np, torch

pytestmark = pytest.mark.skipif(torch is None, reason="torch is not installed")

X4 = rand(2, 4, 6, 5, seed=1)

LAYERS = [  # (id, constructor, input arrays)
    ("Linear", lambda nn: nn.Linear(5, 3), [rand(4, 5)]),
    ("Linear-3d-nobias", lambda nn: nn.Linear(5, 3, bias=False), [rand(2, 4, 5)]),
    ("Bilinear", lambda nn: nn.Bilinear(2, 3, 4), [rand(5, 2), rand(5, 3, seed=2)]),
    ("Identity", lambda nn: nn.Identity(7, k=1), [rand(3)]),
    ("Conv2d", lambda nn: nn.Conv2d(4, 3, 3), [X4]),
    ("Conv2d-opts", lambda nn: nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2,
                                         bias=False),
     [X4]),
    ("Conv2d-same", lambda nn: nn.Conv2d(4, 2, 3, padding="same"), [X4]),
    ("Conv2d-reflect", lambda nn: nn.Conv2d(4, 2, 3, padding=1, padding_mode="reflect"), [X4]),
    ("Conv2d-replicate", lambda nn: nn.Conv2d(4, 2, 3, padding=(1, 2), padding_mode="replicate"), [X4]),
    ("Conv2d-circular", lambda nn: nn.Conv2d(4, 2, 3, padding=1, padding_mode="circular"), [X4]),
    ("Conv2d-unbatched", lambda nn: nn.Conv2d(4, 2, 3), [X4[0]]),
    ("Conv1d", lambda nn: nn.Conv1d(4, 3, 3, stride=2, padding=1), [rand(2, 4, 9)]),
    ("ConvTranspose2d", lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), [X4]),
    ("ConvTranspose2d-groups", lambda nn: nn.ConvTranspose2d(4, 2, 2, groups=2, dilation=2), [X4]),
    ("ConvTranspose1d", lambda nn: nn.ConvTranspose1d(4, 3, 3, stride=2), [rand(2, 4, 5)]),
    ("MaxPool2d", lambda nn: nn.MaxPool2d(2), [X4]),
    ("MaxPool2d-opts", lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), [X4]),
    ("MaxPool2d-indices", lambda nn: nn.MaxPool2d(2, return_indices=True), [X4]),
    ("MaxPool1d", lambda nn: nn.MaxPool1d(3, 2), [rand(2, 3, 9)]),
    ("AvgPool2d", lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False), [X4]),
    ("AvgPool1d", lambda nn: nn.AvgPool1d(2), [rand(2, 3, 9)]),
    ("AdaptiveAvgPool2d", lambda nn: nn.AdaptiveAvgPool2d((None, 2)), [X4]),
    ("AdaptiveAvgPool1d", lambda nn: nn.AdaptiveAvgPool1d(4), [rand(2, 3, 9)]),
    ("AdaptiveMaxPool2d", lambda nn: nn.AdaptiveMaxPool2d(3), [X4]),
    ("AdaptiveMaxPool1d", lambda nn: nn.AdaptiveMaxPool1d(2, return_indices=True), [rand(2, 3, 9)]),
    ("LPPool2d", lambda nn: nn.LPPool2d(2, 2), [np.abs(X4) + 0.1]),
    ("Flatten", lambda nn: nn.Flatten(), [X4]),
    ("Flatten-range", lambda nn: nn.Flatten(0, 2), [X4]),
    ("Unflatten", lambda nn: nn.Unflatten(1, (2, 2)), [X4]),
    ("ReLU", lambda nn: nn.ReLU(), [X4]),
    ("ReLU6", lambda nn: nn.ReLU6(), [X4 * 4]),
    ("LeakyReLU", lambda nn: nn.LeakyReLU(0.2), [X4]),
    ("ELU", lambda nn: nn.ELU(0.7), [X4]),
    ("SELU", lambda nn: nn.SELU(), [X4]),
    ("CELU", lambda nn: nn.CELU(0.5), [X4]),
    ("GELU", lambda nn: nn.GELU(), [X4]),
    ("GELU-tanh", lambda nn: nn.GELU("tanh"), [X4]),
    ("SiLU", lambda nn: nn.SiLU(), [X4]),
    ("Mish", lambda nn: nn.Mish(), [X4]),
    ("Sigmoid", lambda nn: nn.Sigmoid(), [X4]),
    ("Tanh", lambda nn: nn.Tanh(), [X4]),
    ("Softplus", lambda nn: nn.Softplus(2, 1.0), [X4]),
    ("Softsign", lambda nn: nn.Softsign(), [X4]),
    ("Hardtanh", lambda nn: nn.Hardtanh(-0.5, 0.5), [X4]),
    ("Hardswish", lambda nn: nn.Hardswish(), [X4 * 2]),
    ("LogSigmoid", lambda nn: nn.LogSigmoid(), [X4]),
    ("Threshold", lambda nn: nn.Threshold(0.1, -1.0), [X4]),
    ("Softmax", lambda nn: nn.Softmax(dim=1), [X4]),
    ("LogSoftmax", lambda nn: nn.LogSoftmax(dim=-1), [X4]),
    ("Softmin", lambda nn: nn.Softmin(dim=0), [X4]),
    ("GLU", lambda nn: nn.GLU(1), [X4]),
    ("PReLU", lambda nn: nn.PReLU(), [X4]),
    ("PReLU-channels", lambda nn: nn.PReLU(4, 0.1), [X4]),
    ("Softshrink", lambda nn: nn.Softshrink(0.3), [X4]),
    ("Dropout-eval", lambda nn: nn.Dropout(0.5), [X4]),
    ("LayerNorm", lambda nn: nn.LayerNorm(5), [X4]),
    ("LayerNorm-2d-nobias", lambda nn: nn.LayerNorm((6, 5), bias=False), [X4]),
    ("LayerNorm-noaffine", lambda nn: nn.LayerNorm(5, elementwise_affine=False, eps=1e-3), [X4]),
    ("GroupNorm", lambda nn: nn.GroupNorm(2, 4), [X4]),
    ("GroupNorm-noaffine", lambda nn: nn.GroupNorm(4, 4, affine=False), [X4]),
    ("InstanceNorm2d", lambda nn: nn.InstanceNorm2d(4), [X4]),
    ("InstanceNorm1d-affine-stats", lambda nn: nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
     [rand(2, 4, 7)]),
    ("LocalResponseNorm", lambda nn: nn.LocalResponseNorm(3), [X4]),
    ("Upsample-nearest", lambda nn: nn.Upsample(scale_factor=2), [X4]),
    ("Upsample-bilinear", lambda nn: nn.Upsample(size=(5, 7), mode="bilinear"), [X4]),
    ("Upsample-bilinear-ac", lambda nn: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     [X4]),
    ("UpsamplingNearest2d", lambda nn: nn.UpsamplingNearest2d(size=3), [X4]),
    ("UpsamplingBilinear2d", lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), [X4]),
    ("PixelShuffle", lambda nn: nn.PixelShuffle(2), [X4]),
    ("PixelUnshuffle", lambda nn: nn.PixelUnshuffle(2), [rand(2, 1, 4, 6)]),
    ("ZeroPad2d", lambda nn: nn.ZeroPad2d((1, 0, 2, 1)), [X4]),
    ("ConstantPad1d", lambda nn: nn.ConstantPad1d(2, 3.5), [rand(2, 3, 4)]),
    ("ReflectionPad2d", lambda nn: nn.ReflectionPad2d(2), [X4]),
    ("ReplicationPad1d", lambda nn: nn.ReplicationPad1d((1, 3)), [rand(2, 3, 4)]),
    ("CircularPad2d", lambda nn: nn.CircularPad2d(1), [X4]),
    ("CosineSimilarity", lambda nn: nn.CosineSimilarity(dim=1), [rand(3, 4), rand(3, 4, seed=2)]),
    ("PairwiseDistance", lambda nn: nn.PairwiseDistance(p=1.0), [rand(3, 4), rand(3, 4, seed=2)]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,make,arrays", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_matches_torch(name, make, arrays, dtype, device):
    check_layer(make, *arrays, dtype=dtype, train=not name.endswith("-eval"),
                atol=None if dtype == "float64" else 1e-5, rtol=None if dtype == "float64" else 1e-4,
                device=device)


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.BatchNorm1d(3), (5, 3)),
    (lambda nn: nn.BatchNorm1d(3, momentum=0.3), (4, 3, 6)),
    (lambda nn: nn.BatchNorm2d(4), (3, 4, 2, 3)),
    (lambda nn: nn.BatchNorm2d(4, momentum=None), (3, 4, 2, 3)),
    (lambda nn: nn.BatchNorm2d(4, affine=False), (3, 4, 2, 3)),
    (lambda nn: nn.BatchNorm2d(4, bias=False), (3, 4, 2, 3)),
    (lambda nn: nn.BatchNorm2d(4, track_running_stats=False), (3, 4, 2, 3)),
    (lambda nn: nn.BatchNorm3d(2, eps=1e-3), (2, 2, 2, 3, 2)),
], ids=["1d", "1d-3d-input", "2d", "2d-cumulative", "2d-noaffine", "2d-nobias", "2d-nostats", "3d"])
def test_batchnorm_train_then_eval_matches_torch(make, shape, device):
    gm, tm, _ = check_layer(make, rand(*shape, seed=1), train=True, steps=3, device=device)
    x = rand(*shape, seed=9)
    g = gm.eval()(gpunet.tensor(x, device=device))
    t = tm.eval()(torch.tensor(x))
    np.testing.assert_allclose(to_np(g), t.detach().numpy(), rtol=1e-10, atol=1e-10)
    for (name, b), (_, tb) in zip(gm.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(to_np(b), tb.numpy(), rtol=1e-7, err_msg=name)


def test_batchnorm_eval_mode_gradients_match_torch(device):
    check_layer(lambda nn: nn.BatchNorm2d(3), rand(2, 3, 2, 2), train=False, device=device)


def test_instance_norm_eval_with_running_stats_matches_torch(device):
    def make(nn):
        return nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    check_layer(make, rand(2, 3, 4, 4), steps=2, device=device)
    check_layer(lambda nn: make(nn), rand(2, 3, 4, 4), train=False, device=device)


def test_embedding_matches_torch(device):
    idx = np.array([[0, 3, 2], [1, 3, 4]])
    for make in (lambda nn: nn.Embedding(5, 3), lambda nn: nn.Embedding(5, 3, padding_idx=3),
                 lambda nn: nn.Embedding(5, 3, scale_grad_by_freq=True),
                 lambda nn: nn.Embedding(5, 3, max_norm=1.0)):
        check_layer(make, idx, device=device)


def test_conv_transpose_output_size_argument_matches_torch(device):
    x = rand(1, 2, 3, 3)
    gm, tm, _ = check_layer(lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2), x, device=device)
    for size in ([7, 7], [8, 8], (1, 3, 8, 7)):
        g = gm(gpunet.tensor(x, device=device), output_size=size)
        t = tm(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(to_np(g), t.detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="requested an output size of"):
        gm(gpunet.tensor(x, device=device), output_size=[10, 10])


LOSSES = [
    ("MSELoss", lambda nn: nn.MSELoss(), "reg"),
    ("L1Loss-sum", lambda nn: nn.L1Loss(reduction="sum"), "reg"),
    ("SmoothL1Loss", lambda nn: nn.SmoothL1Loss(beta=0.5), "reg"),
    ("HuberLoss", lambda nn: nn.HuberLoss(delta=0.5, reduction="none"), "reg"),
    ("CrossEntropyLoss", lambda nn: nn.CrossEntropyLoss(), "cls"),
    ("CrossEntropyLoss-opts", lambda nn: nn.CrossEntropyLoss(weight=_w(nn), ignore_index=1,
                                                             label_smoothing=0.1),
     "cls"),
    ("NLLLoss", lambda nn: nn.NLLLoss(weight=_w(nn), reduction="sum"), "cls"),
    ("BCELoss", lambda nn: nn.BCELoss(weight=_w(nn)), "prob"),
    ("BCEWithLogitsLoss", lambda nn: nn.BCEWithLogitsLoss(pos_weight=_w(nn)), "logit"),
    ("KLDivLoss", lambda nn: nn.KLDivLoss(reduction="batchmean"), "kl"),
    ("KLDivLoss-log", lambda nn: nn.KLDivLoss(reduction="sum", log_target=True), "kl"),
    ("SoftMarginLoss", lambda nn: nn.SoftMarginLoss(), "sign"),
    ("MultiLabelSoftMarginLoss", lambda nn: nn.MultiLabelSoftMarginLoss(weight=_w(nn)), "logit"),
    ("PoissonNLLLoss", lambda nn: nn.PoissonNLLLoss(), "prob"),
]


def _w(nn):
    lib = gpunet if nn is gpunet.nn else torch
    return lib.tensor([0.5, 2.0, 1.0, 1.5], dtype=lib.float64)


def _loss_inputs(kind):
    x = rand(3, 4, seed=1)
    if kind == "reg":
        return [x, rand(3, 4, seed=2)]
    if kind == "cls":
        return [x, np.array([0, 1, 3])]
    if kind == "prob":
        return [rand(3, 4, seed=1, low=0.05, high=0.95), rand(3, 4, seed=2, low=0, high=1)]
    if kind == "logit":
        return [x, rand(3, 4, seed=2, low=0, high=1)]
    if kind == "kl":
        return [np.log(rand(3, 4, seed=1, low=0.1, high=1)), rand(3, 4, seed=2, low=0.1, high=1)]
    return [x, np.sign(rand(3, 4, seed=2))]


@pytest.mark.parametrize("make,kind", [(m, k) for _, m, k in LOSSES], ids=[n for n, _, _ in LOSSES])
def test_loss_module_matches_torch(make, kind, device):
    gm, _, _ = check_layer(make, *_loss_inputs(kind), needs=[True, kind != "sign"], device=device)
    assert [k for k, _ in gm.named_buffers()] == [k for k, _ in make(torch.nn).named_buffers()]


def test_loss_module_three_inputs_match_torch(device):
    a, b = rand(4, 5, seed=1), rand(4, 5, seed=2)
    check_layer(lambda nn: nn.CosineEmbeddingLoss(margin=0.2), a, b, np.array([1, -1, 1, -1]), device=device)
    check_layer(lambda nn: nn.MarginRankingLoss(margin=0.1), a[:, 0], b[:, 0],
                np.array([1.0, -1.0, 1.0, -1.0]), device=device)
    check_layer(lambda nn: nn.TripletMarginLoss(margin=0.5), a, b, rand(4, 5, seed=3), device=device)
    check_layer(lambda nn: nn.GaussianNLLLoss(), a, b, np.abs(rand(4, 5, seed=3)), device=device)
    check_layer(lambda nn: nn.HingeEmbeddingLoss(), a, np.sign(b), device=device)


def test_module_equals_functional_exactly(device):
    x = gpunet.tensor(X4.astype(np.float32), device=device)
    conv = nn.Conv2d(4, 3, 3, stride=2, padding=1).to(device)
    np.testing.assert_array_equal(to_np(conv(x)), to_np(F.conv2d(x, conv.weight, conv.bias, 2, 1)))
    lin = nn.Linear(5, 2).to(device)
    np.testing.assert_array_equal(to_np(lin(x)), to_np(F.linear(x, lin.weight, lin.bias)))
    bn = nn.BatchNorm2d(4).to(device).eval()
    np.testing.assert_array_equal(to_np(bn(x)), to_np(F.batch_norm(x, bn.running_mean, bn.running_var,
                                                                   bn.weight,
                                                                   bn.bias)))
    ln = nn.LayerNorm(5).to(device)
    np.testing.assert_array_equal(to_np(ln(x)), to_np(F.layer_norm(x, (5,), ln.weight, ln.bias)))
    np.testing.assert_array_equal(to_np(nn.MaxPool2d(2)(x)), to_np(F.max_pool2d(x, 2)))
    np.testing.assert_array_equal(to_np(nn.GELU()(x)), to_np(F.gelu(x)))
    t = gpunet.tensor([0, 1], device=device)
    np.testing.assert_array_equal(to_np(nn.CrossEntropyLoss(label_smoothing=0.1)(x[:, :, 0, 0], t)),
                                  to_np(F.cross_entropy(x[:, :, 0, 0], t, label_smoothing=0.1)))


def test_weights_port_both_ways(device):
    for make in (lambda nn: nn.Conv2d(3, 4, 3), lambda nn: nn.Linear(3, 2), lambda nn: nn.BatchNorm2d(3),
                 lambda nn: nn.Embedding(4, 2), lambda nn: nn.LayerNorm(3), lambda nn: nn.ConvTranspose2d(3,
                                                                                                          2,
                                                                                                          2)):
        gm, tm = make(nn).to(device), make(torch.nn)
        assert state_layout(gm) == state_layout(tm)
        port(gm, tm)  # gpunet -> torch
        for k, v in gm.state_dict().items():
            np.testing.assert_array_equal(tm.state_dict()[k].numpy(), to_np(v))
        fresh = make(nn).to(device)
        port(tm, fresh)  # torch -> gpunet
        for k, v in fresh.state_dict().items():
            np.testing.assert_array_equal(to_np(v), tm.state_dict()[k].numpy())
