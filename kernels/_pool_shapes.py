"""Output-size arithmetic and argument validation shared by kernels.cpu.pool and kernels.cuda.pool.

Everything here runs on the host before any kernel, and raises with the op's name, the shapes
involved and what was expected. Output sizes follow PyTorch's documented pooling formula:
    out = floor_or_ceil((in + 2*pad - dilation*(kernel - 1) - 1) / stride) + 1
and, with ceil_mode, the last window must start inside the input or the left padding.
"""
import numpy as np

from kernels._checks import check_float, check_ndim, check_nonnegative, check_positive, pair


def pool_out_size(size, kernel, stride, pad, dilation, ceil_mode):
    """Output length of one pooled axis (may be < 1; callers check)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        # the last window must start inside the input or the left padding, never in the right padding
        if (out - 1) * stride >= size + pad:
            out -= 1
    else:
        out = span // stride + 1
    return out


def check_pool_input(x, op):
    check_ndim(x, 4, "input", op, "(N, C, H, W)")
    check_float(x, "input", op)


def check_ndim4(a, name, op):
    check_ndim(a, 4, name, op, "(N, C, H, W)")


def _check_window(op, kernel_size, stride, padding, dilation):
    kernel_size = pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    dilation = pair(dilation, "dilation", op)
    check_positive(kernel_size, "kernel_size", op)
    check_positive(stride, "stride", op)
    check_positive(dilation, "dilation", op)
    check_nonnegative(padding, "padding", op)
    for k, p, d in zip(kernel_size, padding, dilation):
        # PyTorch's rule: padding at most half the kernel (and half the dilated, effective kernel)
        if 2 * p > k or 2 * p > (k - 1) * d + 1:
            raise ValueError(f"{op}: pad should be at most half of effective kernel size, got "
                             f"padding={padding}, kernel_size={kernel_size}, dilation={dilation}")
    return kernel_size, stride, padding, dilation


def _out_shape(op, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x_shape
    ho = pool_out_size(h, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    wo = pool_out_size(w, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: input of shape {tuple(x_shape)} is too small for kernel_size={kernel_size}, "
                         f"stride={stride}, padding={padding}, dilation={dilation}, ceil_mode={ceil_mode}: "
                         f"calculated output size ({ho}, {wo}), expected at least (1, 1)")
    return (n, c, ho, wo)


def max_pool2d_args(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate max_pool2d_forward's arguments; returns (window params..., output shape)."""
    op = "max_pool2d_forward"
    check_pool_input(x, op)
    k, s, p, d = _check_window(op, kernel_size, stride, padding, dilation)
    return k, s, p, d, _out_shape(op, x.shape, k, s, p, d, bool(ceil_mode))


def _check_divisor(op, divisor_override):
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
        raise TypeError(f"{op}: divisor_override must be None or an int, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero, got 0")
    return int(divisor_override)


def avg_pool2d_args(op, x_shape, kernel_size, stride, padding, ceil_mode, divisor_override):
    """Validate avg_pool2d arguments for an input of x_shape; returns (k, s, p, divisor, out shape)."""
    k, s, p, _ = _check_window(op, kernel_size, stride, padding, (1, 1))
    divisor = _check_divisor(op, divisor_override)
    return k, s, p, divisor, _out_shape(op, x_shape, k, s, p, (1, 1), bool(ceil_mode))


def check_x_shape(op, x_shape):
    try:
        shape = tuple(int(v) for v in x_shape)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: x_shape must be a sequence of 4 ints (N, C, H, W), "
                         f"got {x_shape!r}") from None
    if len(shape) != 4 or any(v < 0 for v in shape):
        raise ValueError(f"{op}: x_shape must be 4 non-negative ints (N, C, H, W), got {x_shape!r}")
    return shape


def check_grad(op, grad_y, expected_shape):
    check_float(grad_y, "grad_y", op)
    if tuple(grad_y.shape) != tuple(expected_shape):
        raise ValueError(f"{op}: grad_y has shape {tuple(grad_y.shape)}, expected {tuple(expected_shape)} "
                         f"(the forward output's shape)")


def max_pool2d_backward_args(grad_y, indices, x_shape):
    op = "max_pool2d_backward"
    x_shape = check_x_shape(op, x_shape)
    check_ndim(grad_y, 4, "grad_y", op, "(N, C, Ho, Wo)")
    if tuple(indices.shape) != tuple(grad_y.shape):
        raise ValueError(f"{op}: indices has shape {tuple(indices.shape)}, expected grad_y's shape "
                         f"{tuple(grad_y.shape)}")
    if indices.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64 (as returned by max_pool2d_forward), "
                        f"got {indices.dtype}")
    check_float(grad_y, "grad_y", op)
    if tuple(grad_y.shape[:2]) != x_shape[:2]:
        raise ValueError(f"{op}: grad_y has shape {tuple(grad_y.shape)} but x_shape is {x_shape}: "
                         f"expected the same (N, C)")
    return x_shape


def adaptive_out_size(op, x_shape, output_size):
    try:
        ho, wo = output_size
    except (TypeError, ValueError):
        ho = wo = output_size
    # None keeps the input's size along that axis, as PyTorch allows
    ho = x_shape[2] if ho is None else ho
    wo = x_shape[3] if wo is None else wo
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (ho, wo)):
        raise TypeError(f"{op}: output_size must be a pair of ints, got {output_size!r}")
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    if x_shape[2] < 1 or x_shape[3] < 1:
        raise ValueError(f"{op}: input of shape {tuple(x_shape)} has an empty plane, expected H, W >= 1")
    return int(ho), int(wo)


def adaptive_avg_pool2d_args(x, output_size):
    op = "adaptive_avg_pool2d_forward"
    check_pool_input(x, op)
    return adaptive_out_size(op, x.shape, output_size)


def adaptive_avg_pool2d_backward_args(grad_y, x_shape):
    op = "adaptive_avg_pool2d_backward"
    x_shape = check_x_shape(op, x_shape)
    check_ndim(grad_y, 4, "grad_y", op, "(N, C, Ho, Wo)")
    check_float(grad_y, "grad_y", op)
    if tuple(grad_y.shape[:2]) != x_shape[:2]:
        raise ValueError(f"{op}: grad_y has shape {tuple(grad_y.shape)} but x_shape is {x_shape}: "
                         f"expected the same (N, C)")
    adaptive_out_size(op, x_shape, grad_y.shape[2:])
    return x_shape, (int(grad_y.shape[2]), int(grad_y.shape[3]))
