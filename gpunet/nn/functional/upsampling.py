"""interpolate / upsample (nearest, nearest-exact, linear, bilinear, trilinear, area), pixel_shuffle, pad.

Nearest and (bi/tri)linear resampling run the Resample Op of gpunet.ops.upsampling over per-axis
plans built there; area mode is adaptive average pooling. The arguments are checked here.
"""
import math
import warnings

from gpunet.nn.functional._common import check_float, check_tensor
from gpunet.ops.upsampling import Resample, linear_plan, nearest_plan, plan_matrix
from gpunet.nn.functional._padding import pad
from gpunet.nn.functional.pooling import adaptive_avg_pool1d, adaptive_avg_pool2d

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle", "pad"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _sizes(input, size, scale_factor, dims, recompute):
    in_sizes = input._data.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims:
            raise ValueError("Input and output must have the same number of spatial dimensions, but got "
                             f"input with spatial dimensions of {list(in_sizes)} and output size of "
                             f"{list(sizes)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                             "and output size in (o1, o2, ...,oK) format.")
        return tuple(int(s) for s in sizes), (None,) * dims
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
    if len(scales) != dims:
        raise ValueError("Input and scale_factor must have the same number of spatial dimensions, but got "
                         f"input with spatial dimensions of {list(in_sizes)} and scale_factor of shape "
                         f"{list(scales)}.")
    sizes = tuple(int(math.floor(float(n) * float(s))) for n, s in zip(in_sizes, scales))
    return sizes, ((None,) * dims if recompute else tuple(float(s) for s in scales))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L), (N, C, H, W) or (N, C, D, H, W) input (size or scale_factor)."""
    check_float(input, "interpolate")
    dims = input._data.ndim - 2
    if dims not in (1, 2, 3):
        raise NotImplementedError("Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                                  f"{input._data.ndim}D) for the modes: nearest | linear | bilinear | "
                                  f"trilinear | area | nearest-exact (got {mode})")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif mode in _LINEAR:
        if _LINEAR[mode] != dims:
            raise NotImplementedError(f"Got {dims + 2}D input, but {mode} mode needs {_LINEAR[mode] + 2}D "
                                      "input")
        align_corners = bool(align_corners)
    elif mode == "bicubic":
        raise NotImplementedError("interpolate(mode='bicubic') is not supported by gpunet")
    else:
        raise NotImplementedError(f"interpolate: unknown mode {mode!r} (expected nearest | linear | "
                                  "bilinear | trilinear | area | nearest-exact)")
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by gpunet")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    sizes, scales = _sizes(input, size, scale_factor, dims, bool(recompute_scale_factor))
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"interpolate: output size must be positive, got {list(sizes)} for input of size "
                           f"{list(input._data.shape)}")
    if mode == "area":
        if dims == 1:
            return adaptive_avg_pool1d(input, sizes)
        if dims == 2:
            return adaptive_avg_pool2d(input, sizes)
        raise NotImplementedError("interpolate(mode='area') on 5-D input is not supported by gpunet")
    plans = []
    for d, (n_in, n_out, scale) in enumerate(zip(input._data.shape[2:], sizes, scales)):
        if mode in _LINEAR:
            i0, i1, lam = linear_plan(n_in, n_out, scale, align_corners, input._data.dtype)
        else:
            i0, i1, lam = nearest_plan(n_in, n_out, scale, mode == "nearest-exact")
        plans.append((d + 2, i0, i1, lam, plan_matrix(n_in, i0, i1, lam)))
    return Resample.apply(input, plans)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` "
                  "instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` "
                  "instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    check_tensor(input, "input", "pixel_shuffle")
    r = int(upscale_factor)
    shape = input._data.shape
    if len(shape) < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{len(shape)} dimension(s)")
    if r <= 0 or shape[-3] % (r * r):
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
                           f"square of upscale_factor, but input.size(-3)={shape[-3]} is not divisible by "
                           f"{r * r}")
    lead, (c, h, w) = shape[:-3], shape[-3:]
    nl = len(lead)
    x = input.reshape(lead + (c // (r * r), r, r, h, w))
    x = x.permute(*range(nl), nl, nl + 3, nl + 1, nl + 4, nl + 2)
    return x.reshape(lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W)."""
    check_tensor(input, "input", "pixel_unshuffle")
    r = int(downscale_factor)
    shape = input._data.shape
    if len(shape) < 3:
        raise RuntimeError("pixel_unshuffle expects input to have at least 3 dimensions, but got input "
                           f"with {len(shape)} dimension(s)")
    lead, (c, h, w) = shape[:-3], shape[-3:]
    if r <= 0 or h % r or w % r:
        raise RuntimeError("pixel_unshuffle expects height and width to be divisible by downscale_factor, "
                           f"but input of size {list(shape)} is not divisible by {r}")
    nl = len(lead)
    x = input.reshape(lead + (c, h // r, r, w // r, r))
    x = x.permute(*range(nl), nl, nl + 2, nl + 4, nl + 1, nl + 3)
    return x.reshape(lead + (c * r * r, h // r, w // r))
