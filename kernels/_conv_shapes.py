"""Argument validation and output-size arithmetic for conv2d / conv_transpose2d (cpu and cuda share it).

Everything is checked here, before any kernel runs. The result is a ``ConvGeom`` in *conv2d
orientation*: ``(C, H, W)`` is the side a conv2d reads and ``(C_out, Ho, Wo)`` the side it writes.
A conv_transpose2d is the adjoint of that conv2d, so its geometry is the same object with the roles
of its input and output swapped: x (N, C_in, H, W) of the transposed conv is the conv2d *output*
side, its y is the conv2d *input* side, and its weight (C_in, C_out/groups, kH, kW) is the conv2d
weight unchanged.
"""
from typing import NamedTuple

from kernels._checks import check_float, check_ndim, check_nonnegative, check_positive, is_float, pair


class ConvGeom(NamedTuple):
    N: int
    C: int          # channels on the conv2d input side
    H: int
    W: int
    C_out: int      # channels on the conv2d output side
    Ho: int
    Wo: int
    kH: int
    kW: int
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int


def _common(op, x, w, b, stride, padding, dilation, groups):
    check_ndim(x, 4, "input", op, "(N, C, H, W)")
    check_ndim(w, 4, "weight", op, "(C_out, C_in/groups, kH, kW)" if op.startswith("conv2d")
               else "(C_in, C_out/groups, kH, kW)")
    check_float(x, "input", op)
    check_float(w, "weight", op)
    if x.dtype != w.dtype:
        raise TypeError(f"{op}: input and weight must share one dtype, got input {x.dtype} and "
                        f"weight {w.dtype}")
    if b is not None and (not is_float(b.dtype) or b.dtype != x.dtype):
        raise TypeError(f"{op}: bias dtype must match input dtype {x.dtype}, got {b.dtype}")
    stride, padding, dilation = pair(stride, "stride", op), pair(padding, "padding", op), \
        pair(dilation, "dilation", op)
    check_positive(stride, "stride", op)
    check_positive(dilation, "dilation", op)
    check_nonnegative(padding, "padding", op)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if any(k <= 0 for k in w.shape[2:]):
        raise ValueError(f"{op}: kernel size must be positive, got weight shape {tuple(w.shape)}")
    return stride, padding, dilation


def _check_bias(op, b, channels):
    if b is not None and tuple(b.shape) != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},) (one per output channel), "
                         f"got {tuple(b.shape)}")


def conv2d_geometry(op, x, w, b, stride, padding, dilation, groups):
    """Validate conv2d arguments; return the ConvGeom. Ho = (H + 2p - d(k-1) - 1) // s + 1."""
    stride, padding, dilation = _common(op, x, w, b, stride, padding, dilation, groups)
    N, C, H, W = (int(s) for s in x.shape)
    C_out, C_per_group, kH, kW = (int(s) for s in w.shape)
    if C != C_per_group * groups:
        raise ValueError(f"{op}: input has {C} channels (shape {tuple(x.shape)}) but weight "
                         f"{tuple(w.shape)} with groups={groups} expects {C_per_group * groups} "
                         f"(= weight.shape[1] * groups)")
    if C_out % groups:
        raise ValueError(f"{op}: out_channels {C_out} (weight {tuple(w.shape)}) must be divisible "
                         f"by groups={groups}")
    _check_bias(op, b, C_out)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho = (H + 2 * ph - dh * (kH - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kW - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{op}: kernel ({kH}, {kW}) with dilation {dilation} is larger than the padded "
                         f"input ({H + 2 * ph}, {W + 2 * pw}) (input {tuple(x.shape)}, padding "
                         f"{padding}): output size would be ({Ho}, {Wo})")
    return ConvGeom(N, C, H, W, C_out, Ho, Wo, kH, kW, stride, padding, dilation, groups)


def conv_transpose2d_geometry(op, x, w, b, stride, padding, output_padding, dilation, groups):
    """Validate conv_transpose2d arguments; return the ConvGeom of the conv2d it is the adjoint of.

    Hout = (H - 1) s - 2p + d(k - 1) + output_padding + 1.
    """
    stride, padding, dilation = _common(op, x, w, b, stride, padding, dilation, groups)
    output_padding = pair(output_padding, "output_padding", op)
    check_nonnegative(output_padding, "output_padding", op)
    for op_i, s_i, d_i in zip(output_padding, stride, dilation):
        if op_i >= s_i and op_i >= d_i:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either "
                             f"stride {stride} or dilation {dilation}")
    N, C_in, H, W = (int(s) for s in x.shape)
    C_w, C_out_per_group, kH, kW = (int(s) for s in w.shape)
    if C_in != C_w:
        raise ValueError(f"{op}: input has {C_in} channels (shape {tuple(x.shape)}) but weight "
                         f"{tuple(w.shape)} expects {C_w} (= weight.shape[0])")
    if C_in % groups:
        raise ValueError(f"{op}: in_channels {C_in} (input {tuple(x.shape)}) must be divisible by "
                         f"groups={groups}")
    C_out = C_out_per_group * groups
    _check_bias(op, b, C_out)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Hy = (H - 1) * sh - 2 * ph + dh * (kH - 1) + output_padding[0] + 1
    Wy = (W - 1) * sw - 2 * pw + dw * (kW - 1) + output_padding[1] + 1
    if Hy < 1 or Wy < 1:
        raise ValueError(f"{op}: output size would be ({Hy}, {Wy}) for input {tuple(x.shape)}, "
                         f"weight {tuple(w.shape)}, stride {stride}, padding {padding}, "
                         f"output_padding {output_padding}, dilation {dilation}: expected at least 1")
    # conv2d orientation: its input is the transposed conv's output y, its output is x
    return ConvGeom(N, C_out, Hy, Wy, C_in, H, W, kH, kW, stride, padding, dilation, groups)


def check_grad_output(op, grad_y, expected_shape, dtype):
    """grad_y must be 4-D with the forward output's shape and the input's dtype."""
    check_ndim(grad_y, 4, "grad_output", op, "(N, C, H, W)")
    if tuple(grad_y.shape) != tuple(expected_shape):
        raise ValueError(f"{op}: grad_output has shape {tuple(grad_y.shape)}, expected the forward "
                         f"output shape {tuple(expected_shape)}")
    if grad_y.dtype != dtype:
        raise TypeError(f"{op}: grad_output dtype {grad_y.dtype} must match input dtype {dtype}")


def check_needs(op, needs):
    try:
        flags = tuple(bool(n) for n in needs)
    except TypeError:
        flags = ()
    if len(flags) != 3:
        raise ValueError(f"{op}: needs must be 3 bools (grad_input, grad_weight, grad_bias), got {needs!r}")
    return flags
