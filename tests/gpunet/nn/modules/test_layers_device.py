"""Modules across devices and module errors that name the layer (test_layers_parity runs every layer on
both devices)."""
import numpy as np
import pytest

import gpunet
from gpunet import nn

from tests.helpers import to_np


def test_module_to_cuda_moves_parameters_and_buffers():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device")
    m = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.CrossEntropyLoss(weight=gpunet.ones(3)))
    m.to("cuda")
    assert all(p.device.type == "cuda" for p in m.parameters())
    assert all(b.device.type == "cuda" for b in m.buffers())


def test_linear_wrong_in_features_names_the_layer(device):
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 5x2\) in "
                                           r"Linear\(in_features=5, out_features=2, bias=True\)"):
        nn.Linear(5, 2, device=device)(gpunet.randn(4, 3, device=device))


def test_conv_wrong_channels_names_expected_and_got_and_the_layer(device):
    with pytest.raises(RuntimeError,
                       match=r"to have 3 channels, but got 4 channels instead \(in Conv2d\(3, 8"):
        nn.Conv2d(3, 8, 3, device=device)(gpunet.randn(1, 4, 5, 5, device=device))
    with pytest.raises(RuntimeError, match="transposed=1.*to have 4 channels, but got 2"):
        nn.ConvTranspose2d(4, 2, 3, device=device)(gpunet.randn(1, 2, 5, 5, device=device))


def test_batchnorm_wrong_dims_and_channels(device):
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input"):
        nn.BatchNorm2d(3, device=device)(gpunet.randn(2, 3, 4, device=device))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3, device=device)(gpunet.randn(2, 3, 4, 4, device=device))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        nn.BatchNorm1d(3, device=device)(gpunet.randn(2, 4, device=device))


def test_cross_entropy_module_target_out_of_range_names_class_count(device):
    with pytest.raises(IndexError, match="Target 7 is out of bounds.*for 5 classes"):
        nn.CrossEntropyLoss()(gpunet.randn(2, 5, device=device), gpunet.tensor([1, 7], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync


def test_dropout_module_train_and_eval(device):
    gpunet.manual_seed(0)
    d = nn.Dropout(0.5)
    x = gpunet.ones(1000, device=device)
    y = to_np(d(x))
    assert 0.4 < (y == 0).mean() < 0.6 and set(np.unique(y)) <= {0.0, 2.0}
    d.eval()
    assert d(x) is x


def test_batchnorm_momentum_none_is_cumulative_average(device):
    bn = nn.BatchNorm1d(2, momentum=None, device=device)
    batches = [gpunet.randn(6, 2, device=device) for _ in range(3)]
    for b in batches:
        bn(b)
    mean = np.mean([to_np(b).mean(0) for b in batches], axis=0)
    np.testing.assert_allclose(to_np(bn.running_mean), mean, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 3


def test_batchnorm_eval_without_running_stats_uses_batch_stats(device):
    bn = nn.BatchNorm1d(2, track_running_stats=False, device=device).eval()
    y = to_np(bn(gpunet.randn(8, 2, device=device)))
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
