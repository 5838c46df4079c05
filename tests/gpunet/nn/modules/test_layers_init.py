"""Layer construction: default initialisation (PyTorch's formulas), reprs, attributes, validation."""
import math

import numpy as np
import pytest

import gpunet
from gpunet import nn

from tests.helpers import to_np, torch


def _check_uniform(t, bound):
    v = to_np(t).ravel()
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    assert abs(v.mean()) < 0.05 * bound


@pytest.mark.parametrize("make,fan_in", [
    (lambda d: nn.Linear(300, 200, device=d), 300),
    (lambda d: nn.Conv2d(16, 64, 3, device=d), 16 * 9),
    (lambda d: nn.Conv2d(16, 64, (3, 5), groups=4, device=d), 4 * 15),
    (lambda d: nn.Conv1d(20, 300, 7, device=d), 140),
    (lambda d: nn.ConvTranspose2d(64, 32, 3, groups=2, device=d), 16 * 9),  # weight.size(1) * k*k
])
def test_linear_and_conv_default_init_bounds(make, fan_in, device):
    gpunet.manual_seed(0)
    m = make(device)
    assert m.weight.device.type == device
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives sqrt(6 / ((1 + 5) fan_in))
    _check_uniform(m.weight, bound)
    v = to_np(m.bias)
    assert np.abs(v).max() <= bound and v.std() > 0.4 * bound / math.sqrt(3)


def test_bilinear_init_bounds(device):
    m = nn.Bilinear(40, 30, 50, device=device)
    _check_uniform(m.weight, 1 / math.sqrt(40))


def test_embedding_init_normal_and_padding_row_zero(device):
    gpunet.manual_seed(1)
    e = nn.Embedding(500, 64, padding_idx=3, device=device)
    w = to_np(e.weight)
    assert (w[3] == 0).all()
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02
    assert e.weight.requires_grad and e.weight.dtype == gpunet.float32


def test_norm_layers_init_and_buffers(device):
    bn = nn.BatchNorm2d(5, device=device)
    assert (to_np(bn.weight) == 1).all() and (to_np(bn.bias) == 0).all()
    assert (to_np(bn.running_mean) == 0).all() and (to_np(bn.running_var) == 1).all()
    assert bn.num_batches_tracked.dtype == gpunet.int64 and int(bn.num_batches_tracked) == 0
    assert not bn.running_mean.requires_grad
    assert [k for k, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert nn.BatchNorm1d(3, affine=False).weight is None
    assert nn.BatchNorm1d(3, track_running_stats=False).running_mean is None
    ln = nn.LayerNorm((2, 3), device=device)
    assert ln.weight.shape == (2, 3) and (to_np(ln.weight) == 1).all() and (to_np(ln.bias) == 0).all()
    gn = nn.GroupNorm(2, 6, device=device)
    assert gn.weight.shape == (6,) and gn.weight.device.type == device
    assert (to_np(nn.PReLU(3, 0.1, device=device).weight) == np.float32(0.1)).all()


def test_factory_kwargs_dtype_and_device(device):
    m = nn.Linear(3, 2, dtype=gpunet.float64, device=device)
    assert m.weight.dtype == gpunet.float64 and m.bias.dtype == gpunet.float64
    assert m.weight.device.type == device and m.bias.device.type == device
    c = nn.Conv2d(1, 2, 3, bias=False, dtype=gpunet.float64, device=device)
    assert c.bias is None and c.weight.dtype == gpunet.float64 and c.weight.device.type == device
    bn = nn.BatchNorm1d(3, device=device)
    assert bn.weight.device.type == device and bn.running_var.device.type == device


def test_embedding_from_pretrained(device):
    w = gpunet.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e.num_embeddings == 3 and e.embedding_dim == 2
    assert e.weight.device.type == device
    np.testing.assert_array_equal(to_np(e(gpunet.tensor([2, 0], device=device))), [[5, 6], [1, 2]])
    e2 = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    assert e2.weight.requires_grad and (to_np(e2.weight)[1] == [3, 4]).all()  # padding row kept as given
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(gpunet.randn(3))


REPRS = [
    "nn.ReLU()", "nn.ReLU(True)", "nn.ReLU6()", "nn.LeakyReLU(0.2, True)", "nn.ELU(0.5)", "nn.SELU()",
    "nn.CELU()", "nn.GELU()", "nn.GELU('tanh')", "nn.SiLU(True)", "nn.Mish()", "nn.Sigmoid()", "nn.Tanh()",
    "nn.Softplus(2, 10)", "nn.Hardtanh(-2, 2, True)", "nn.Hardsigmoid()", "nn.Hardswish()", "nn.Softmax()",
    "nn.Softmax(1)", "nn.LogSoftmax(dim=-1)", "nn.Softmin(0)", "nn.Threshold(0.1, 20)", "nn.GLU()",
    "nn.PReLU(3)", "nn.Softshrink()", "nn.Hardshrink(0.3)", "nn.Softsign()", "nn.LogSigmoid()",
    "nn.Identity(3, a=4)", "nn.Linear(3, 4)", "nn.Linear(3, 4, bias=False)", "nn.Bilinear(2, 3, 4)",
    "nn.Conv2d(3, 4, 3)",
    "nn.Conv2d(3, 4, (3, 5), stride=2, padding=1, dilation=2, bias=False, padding_mode='reflect')",
    "nn.Conv2d(4, 4, 3, padding='same', groups=2)", "nn.Conv1d(3, 4, 3)",
    "nn.Conv1d(3, 4, 3, padding='valid')", "nn.ConvTranspose2d(3, 4, 3)",
    "nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1, padding=1)",
    "nn.ConvTranspose1d(3, 4, 3, dilation=2, groups=1)", "nn.MaxPool2d(2)",
    "nn.MaxPool2d(3, 2, 1, 2, True, True)", "nn.AvgPool2d(2)", "nn.AvgPool2d(3, 2, 1, True, False, 5)",
    "nn.AdaptiveAvgPool2d((None, 3))", "nn.AdaptiveAvgPool2d(1)", "nn.AdaptiveMaxPool2d(2)",
    "nn.MaxPool1d(2)", "nn.AvgPool1d(3)", "nn.AdaptiveAvgPool1d(3)", "nn.AdaptiveMaxPool1d(2, True)",
    "nn.LPPool2d(2, 3)", "nn.Flatten()", "nn.Unflatten(1, (2, 3))", "nn.Dropout()", "nn.Dropout(0.2, True)",
    "nn.Dropout2d()", "nn.Dropout1d()", "nn.AlphaDropout(0.1)", "nn.BatchNorm1d(3)",
    "nn.BatchNorm2d(3, momentum=None, affine=False, track_running_stats=False)",
    "nn.BatchNorm2d(3, bias=False)", "nn.BatchNorm3d(2)", "nn.LayerNorm(4)",
    "nn.LayerNorm((2, 3), elementwise_affine=False)", "nn.LayerNorm(4, bias=False)", "nn.GroupNorm(2, 4)",
    "nn.GroupNorm(2, 4, affine=False)", "nn.InstanceNorm2d(3)",
    "nn.InstanceNorm1d(3, affine=True, track_running_stats=True)", "nn.LocalResponseNorm(2)",
    "nn.Embedding(10, 3)", "nn.Embedding(10, 3, padding_idx=0, max_norm=1.0)",
    "nn.Embedding(10, 3, scale_grad_by_freq=True)", "nn.Upsample(scale_factor=2)",
    "nn.Upsample(size=(3, 4), mode='bilinear', align_corners=True)",
    "nn.UpsamplingNearest2d(scale_factor=2)", "nn.UpsamplingBilinear2d(size=4)", "nn.PixelShuffle(2)",
    "nn.PixelUnshuffle(2)", "nn.ZeroPad2d(1)", "nn.ConstantPad2d((1, 2, 3, 4), 3.5)",
    "nn.ReflectionPad2d(1)", "nn.ReplicationPad1d((1, 2))", "nn.CircularPad2d(1)", "nn.MSELoss()",
    "nn.L1Loss(reduction='sum')", "nn.SmoothL1Loss(beta=0.5)", "nn.HuberLoss(delta=2)",
    "nn.CrossEntropyLoss()", "nn.NLLLoss()", "nn.BCELoss()", "nn.BCEWithLogitsLoss()", "nn.KLDivLoss()",
    "nn.CosineSimilarity()", "nn.PairwiseDistance()", "nn.CosineEmbeddingLoss()", "nn.TripletMarginLoss()",
    "nn.PoissonNLLLoss()", "nn.GaussianNLLLoss()",
]


@pytest.mark.parametrize("expr", REPRS)
def test_repr_equals_torch(expr):
    if torch is None:
        pytest.skip("torch is not installed")
    mine = eval(expr, {"nn": nn})
    ref = eval(expr, {"nn": torch.nn})
    assert repr(mine) == repr(ref)


def test_layer_attributes_match_torch_names():
    c = nn.Conv2d(3, 6, 3, stride=2, groups=3)
    assert (c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups,
            c.padding_mode, c.transposed) == (3, 6, (3, 3), (2, 2), (0, 0), (1, 1), 3, "zeros", False)
    ct = nn.ConvTranspose2d(4, 2, 3, output_padding=1, stride=2)
    assert ct.output_padding == (1, 1) and ct.transposed and ct.weight.shape == (4, 2, 3, 3)
    bn = nn.BatchNorm1d(3, eps=1e-3, momentum=0.2)
    assert (bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (3, 1e-3, 0.2, True,
                                                                                         True)
    assert nn.Linear(3, 4).in_features == 3 and nn.Embedding(3, 2, padding_idx=-1).padding_idx == 2
    assert nn.LayerNorm(4).normalized_shape == (4,) and nn.Dropout(0.3).p == 0.3
    assert nn.CrossEntropyLoss(reduction="sum").reduction == "sum"
    assert nn.MaxPool2d(3).stride == 3 and nn.AvgPool2d(2, 1).stride == 1


def test_constructor_validation():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.2)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints"):
        nn.Unflatten(1, 3)
