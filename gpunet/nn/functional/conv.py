"""Convolutions: conv2d / conv_transpose2d over the Ops in gpunet.ops.conv (K.conv2d_forward, ...).

1-D convolutions run as 2-D ones over a height-1 image; unbatched (C, H, W) inputs get a batch dim.
Arguments are checked here with PyTorch's messages, so kernel errors are never the user's first clue.
"""
from gpunet.amp import _policy as _amp
from gpunet.nn.functional._common import check_float, check_same_device, check_tensor, ntuple
from gpunet.nn.functional._padding import pad as _pad
from gpunet.ops.conv import Conv2d, ConvTranspose2d

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]


def _check_common(op, input, weight, bias, dims):
    check_float(input, op)
    check_tensor(weight, "weight", op)
    if bias is not None:
        check_tensor(bias, "bias", op)
    check_same_device(op, input, weight, bias)
    if weight._data.ndim != dims + 2:
        raise RuntimeError(f"{op}: expected weight to be {dims + 2}-D, got shape "
                           f"{list(weight._data.shape)}")
    if input._data.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {op}, but "
                           f"got input of size: {list(input._data.shape)}")
    dtype = input._data.dtype
    if weight._data.dtype != dtype or (bias is not None and bias._data.dtype != dtype):
        raise RuntimeError(f"{op}: Input type ({input.dtype}) and weight type ({weight.dtype}) should be "
                           "the same"
                           + ("" if bias is None else f" (bias type {bias.dtype})"))


def _check_bias(op, bias, channels):
    if bias is not None and bias._data.shape != (channels,):
        raise RuntimeError(f"{op}: Given weight with {channels} output channels, expected bias to be 1-D "
                           f"with {channels} elements, but got bias of size {list(bias._data.shape)} "
                           "instead")


def _same_padding(op, weight, stride, dilation, dims):
    """PyTorch's padding='same': total d*(k-1) per dim, the extra odd element on the right."""
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
    ks = weight._data.shape[2:]
    total = [d * (k - 1) for d, k in zip(dilation, ks)]
    left = tuple(t // 2 for t in total)
    extra = [t - 2 * (t // 2) for t in total]  # 1 where the padding is asymmetric
    return left, extra


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation): input (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in/groups, kH, kW); padding an int, a pair, 'valid' or 'same'."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv(input, weight, bias, stride, padding, dilation, groups, dims, op):
    if _amp.state.on:  # autocast
        input, weight, bias = _amp.cast(op, input, weight, bias)
    _check_common(op, input, weight, bias, dims)
    stride = ntuple(stride, dims, "stride", op)
    dilation = ntuple(dilation, dims, "dilation", op)
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{op}: non-positive stride is not supported, got {stride}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: dilation should be greater than zero, got {dilation}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got {groups!r}")
    unbatched = input._data.ndim == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    extra = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * dims
        elif padding == "same":
            padding, extra = _same_padding(op, weight, stride, dilation, dims)
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
    else:
        padding = ntuple(padding, dims, "padding", op)
        if any(p < 0 for p in padding):
            raise RuntimeError(f"{op}: negative padding is not supported, got {padding}")
    c_out, c_per_group = weight._data.shape[:2]
    if c_out % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(weight._data.shape)} instead")
    if x._data.shape[1] != c_per_group * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight._data.shape)}, expected "
                           f"input{list(x._data.shape)} to have {c_per_group * groups} channels, but got "
                           f"{x._data.shape[1]} channels instead")
    _check_bias(op, bias, c_out)
    if extra is not None and any(extra):
        pads = []
        for e in reversed(extra):
            pads += [0, e]
        x = _pad(x, pads)
    in_sizes = x._data.shape[2:]
    ks = weight._data.shape[2:]
    padded = [n + 2 * p for n, p in zip(in_sizes, padding)]
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, ks)]
    if any(pn < e for pn, e in zip(padded, eff)):
        raise RuntimeError(f"{op}: Calculated padded input size per channel: "
                           f"({' x '.join(map(str, padded))}). Kernel size: ({' x '.join(map(str, eff))}). "
                           "Kernel size can't be greater than actual input size")
    if dims == 1:
        out = Conv2d.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, (0,) + padding,
                           (1,) + dilation, groups).squeeze(2)
    else:
        out = Conv2d.apply(x, weight, bias, stride, padding, dilation, groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution: input (N, C_in, H, W), weight (C_in, C_out/groups, kH, kW);
    H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution: input (N, C_in, L), weight (C_in, C_out/groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, dims, op):
    if _amp.state.on:  # autocast
        input, weight, bias = _amp.cast(op, input, weight, bias)
    _check_common(op, input, weight, bias, dims)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r} (string padding "
                         "is only supported by convolutions, not transposed convolutions)")
    stride = ntuple(stride, dims, "stride", op)
    padding = ntuple(padding, dims, "padding", op)
    output_padding = ntuple(output_padding, dims, "output_padding", op)
    dilation = ntuple(dilation, dims, "dilation", op)
    if any(s <= 0 for s in stride) or any(d <= 0 for d in dilation) or any(p < 0 for p in padding):
        raise RuntimeError(f"{op}: stride and dilation must be positive and padding non-negative, got "
                           f"stride={stride}, padding={padding}, dilation={dilation}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got {groups!r}")
    for o, s, d in zip(output_padding, stride, dilation):
        if o < 0 or (o >= s and o >= d):
            raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but "
                               f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    unbatched = input._data.ndim == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    c_in, c_out_per_group = weight._data.shape[:2]
    if x._data.shape[1] != c_in:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight._data.shape)}, expected "
                           f"input{list(x._data.shape)} to have {c_in} channels, but got {x._data.shape[1]} "
                           "channels instead")
    if c_in % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(weight._data.shape)} instead")
    _check_bias(op, bias, c_out_per_group * groups)
    sizes = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
             zip(x._data.shape[2:], stride, padding, dilation, weight._data.shape[2:], output_padding)]
    if any(v < 1 for v in sizes):
        raise RuntimeError(f"{op}: output size would be {tuple(sizes)} for input {list(x._data.shape)}, "
                           f"weight {list(weight._data.shape)}, stride {stride}, padding {padding}: "
                           "expected at least 1")
    if dims == 1:
        out = ConvTranspose2d.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, (0,) + padding,
                                    (0,) + output_padding, (1,) + dilation, groups).squeeze(2)
    else:
        out = ConvTranspose2d.apply(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return out.squeeze(0) if unbatched else out
