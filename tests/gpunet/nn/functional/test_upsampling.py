"""interpolate (nearest, nearest-exact, linear, bilinear, trilinear, area), pad, pixel_shuffle: vs torch."""
import numpy as np
import pytest

import gpunet
import gpunet.nn.functional as F

from tests.helpers import compare, gradcheck, rand, to_np

CASES = [
    ((1, 2, 3, 4), {"scale_factor": 2}),
    ((1, 2, 3, 4), {"scale_factor": 1.7}),
    ((1, 2, 5, 7), {"scale_factor": 0.5}),
    ((2, 1, 3, 4), {"size": (5, 7)}),
    ((2, 1, 6, 5), {"size": (4, 3)}),
    ((1, 2, 3, 4), {"scale_factor": (1.5, 2.5)}),
    ((1, 2, 3, 4), {"scale_factor": 1.5, "recompute_scale_factor": True}),
    ((1, 1, 4, 4), {"size": 1}),
]


@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                        ("bilinear", True), ("area", None)])
@pytest.mark.parametrize("shape,kw", CASES)
def test_interpolate_2d_matches_torch(shape, kw, mode, align, device):
    compare(lambda F, x: F.interpolate(x, mode=mode, align_corners=align, **kw), rand(*shape, seed=1),
            device=device)
    compare(lambda F, x: F.interpolate(x, mode=mode, align_corners=align, **kw), rand(*shape, seed=1),
            dtype="float32", device=device)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True), ("area",
                                                                                                 None)])
@pytest.mark.parametrize("kw", [{"scale_factor": 2}, {"size": 7}, {"scale_factor": 0.6}])
def test_interpolate_1d_matches_torch(kw, mode, align, device):
    compare(lambda F, x: F.interpolate(x, mode=mode, align_corners=align, **kw), rand(2, 3, 5, seed=1),
            device=device)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("trilinear", False), ("trilinear", True)])
def test_interpolate_3d_matches_torch(mode, align, device):
    compare(lambda F, x: F.interpolate(x, scale_factor=(2, 1.5, 0.5), mode=mode, align_corners=align),
            rand(1, 2, 2, 3, 4, seed=1), device=device)


def test_interpolate_gradcheck(device):
    gradcheck(lambda F, x: F.interpolate(x, size=(3, 5), mode="bilinear"), rand(1, 1, 2, 3), device=device)
    gradcheck(lambda F, x: F.interpolate(x, scale_factor=1.5, mode="nearest"), rand(1, 1, 2, 3),
              device=device)


def test_upsample_aliases_warn_and_agree(device):
    x = gpunet.tensor(rand(1, 1, 2, 3), device=device)
    with pytest.warns(UserWarning, match="nn.functional.upsample` is deprecated"):
        y = F.upsample(x, scale_factor=2, mode="bilinear")
    np.testing.assert_array_equal(to_np(y), to_np(F.interpolate(x, scale_factor=2, mode="bilinear")))
    with pytest.warns(UserWarning, match="deprecated"):
        y = F.upsample_bilinear(x, scale_factor=2)
    np.testing.assert_array_equal(to_np(y), to_np(F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                align_corners=True)))
    with pytest.warns(UserWarning, match="deprecated"):
        F.upsample_nearest(x, size=4)


def test_interpolate_errors(device):
    x = gpunet.randn(1, 1, 2, 2, device=device)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating "
                                         "modes"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)


PADS = [((1, 2), "constant"), ((1, 2, 0, 1), "constant"), ((-1, 2, 1, -1), "constant"), ((1, 1, 1, 1, 1, 0),
                                                                                          "constant"),
        ((2, 1), "reflect"), ((1, 2, 2, 1), "reflect"), ((2, 3), "replicate"), ((1, 0, 2, 3), "replicate"),
        ((1, 2), "circular"), ((2, 1, 1, 3), "circular")]


@pytest.mark.parametrize("pad,mode", PADS)
def test_pad_matches_torch(pad, mode, device):
    x = rand(2, 3, 4, 5, seed=1)
    if len(pad) == 2 and mode != "constant":
        x = x[0]  # torch pads one dim of 2-D/3-D inputs only
    compare(lambda F, x: F.pad(x, pad, mode=mode), x, fd=True, device=device)
    if mode == "constant":
        compare(lambda F, x: F.pad(x, pad, value=2.5), x, device=device)


@pytest.mark.parametrize("shape,pad,mode", [
    ((2, 2, 3, 4, 5), (1, 0, 2, 1, 1, 2), "reflect"), ((2, 2, 3, 4, 5), (1, 1, 0, 2, 3, 1), "replicate"),
    ((2, 2, 3, 4, 5), (2, 0, 0, 1, 1, 1), "circular"),
    ((1, 2, 90), (70, 66), "circular"), ((1, 2, 90), (80, 3), "reflect")])  # borders past one slice each
def test_pad_of_three_axes_and_wide_borders_matches_torch(shape, pad, mode, device):
    compare(lambda F, x: F.pad(x, pad, mode=mode), rand(*shape, seed=2), fd=True, device=device)


def test_pad_errors(device):
    x = gpunet.randn(1, 2, 3, 3, device=device)
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input "
                                           "dimension"):
        F.pad(x, (3, 3, 0, 0), mode="reflect")
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D input"):
        F.pad(x, (1, 1), mode="replicate")
    with pytest.raises(NotImplementedError, match="mode 'wrap'"):
        F.pad(x, (1, 1), mode="wrap")


def test_pixel_shuffle_matches_torch(device):
    compare(lambda F, x: F.pixel_shuffle(x, 2), rand(2, 8, 3, 2, seed=1), device=device)
    compare(lambda F, x: F.pixel_shuffle(x, 3), rand(9, 2, 2, seed=1), device=device)
    compare(lambda F, x: F.pixel_unshuffle(x, 2), rand(2, 2, 4, 6, seed=1), device=device)
    x = gpunet.tensor(rand(1, 4, 2, 3), device=device)
    np.testing.assert_array_equal(to_np(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2)), to_np(x))
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(gpunet.randn(1, 3, 2, 2, device=device), 2)
