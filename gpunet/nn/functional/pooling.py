"""Pooling: max / avg / adaptive pooling over the Ops in gpunet.ops.pooling; 1-D forms run as 2-D.

Inputs are (N, C, H, W) or unbatched (C, H, W). max_pool indices are flat positions h * W + w
within each (n, c) plane, as PyTorch returns them.
"""
from gpunet.nn.functional._common import check_float, ntuple
from gpunet.ops.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

__all__ = ["max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "lp_pool1d", "lp_pool2d"]


def _batched(input, op, dims):
    check_float(input, op)
    nd = input._data.ndim
    if nd not in (dims + 1, dims + 2):
        shape = "(C, L) or (N, C, L)" if dims == 1 else "(C, H, W) or (N, C, H, W)"
        raise RuntimeError(f"{op}: Expected {dims + 1}D or {dims + 2}D input {shape}, got input of size "
                           f"{list(input._data.shape)}")
    if any(s == 0 for s in input._data.shape[-dims:]):
        raise RuntimeError(f"{op}: Expected input's non-batch dimensions to have positive length, but input "
                           f"has a shape of {list(input._data.shape)}")
    return (input.unsqueeze(0), True) if nd == dims + 1 else (input, False)


def _out_size(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def _window(op, x, kernel_size, stride, padding, dilation, ceil_mode, dims):
    kernel_size = ntuple(kernel_size, dims, "kernel_size", op)
    default = stride is None or stride == [] or stride == ()
    stride = kernel_size if default else ntuple(stride, dims, "stride", op)
    padding = ntuple(padding, dims, "padding", op)
    dilation = ntuple(dilation, dims, "dilation", op)
    if any(k <= 0 for k in kernel_size) or any(s <= 0 for s in stride) or any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: kernel_size, stride and dilation must be greater than zero, but got "
                           f"kernel_size={kernel_size}, stride={stride}, dilation={dilation}")
    for k, p, d in zip(kernel_size, padding, dilation):
        if p < 0 or 2 * p > k:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    sizes = x._data.shape[2:]
    outs = [_out_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(sizes, kernel_size, stride, padding,
                                                                          dilation)]
    if any(o < 1 for o in outs):
        c = x._data.shape[1]
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(map(str, (c,) + sizes))}). Calculated "
                           f"output size: ({'x'.join(map(str, (c,) + tuple(outs)))}). Output size is too "
                           "small")
    if dims == 1:
        return (1,) + kernel_size, (1,) + stride, (0,) + padding, (1,) + dilation
    return kernel_size, stride, padding, dilation


def _unwrap(out, unbatched, dims):
    if dims == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, dims, op):
    x, unbatched = _batched(input, op, dims)
    k, s, p, d = _window(op, x, kernel_size, stride, padding, dilation, ceil_mode, dims)
    if dims == 1:
        x = x.unsqueeze(2)
    y, idx = MaxPool2d.apply(x, k, s, p, d, bool(ceil_mode))
    return _unwrap(y, unbatched, dims), _unwrap(idx, unbatched, dims)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over kernel_size windows; stride defaults to kernel_size; return_indices adds flat indices."""
    y, idx = _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d")
    return (y, idx) if return_indices else y


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    y, idx = _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d")
    return (y, idx) if return_indices else y


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims, op):
    x, unbatched = _batched(input, op, dims)
    k, s, p, _ = _window(op, x, kernel_size, stride, padding, 1, ceil_mode, dims)
    if divisor_override is not None and (isinstance(divisor_override, bool) or int(divisor_override) == 0):
        raise RuntimeError(f"{op}: divisor must be not zero, got divisor_override={divisor_override!r}")
    if dims == 1:
        x = x.unsqueeze(2)
    y = AvgPool2d.apply(x, k, s, p, bool(ceil_mode), bool(count_include_pad),
                        None if divisor_override is None else int(divisor_override))
    return _unwrap(y, unbatched, dims)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over kernel_size windows (count_include_pad: zero padding counts in the divisor)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def _adaptive_size(op, output_size, in_sizes, dims):
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size,) * dims
    output_size = tuple(output_size)
    if len(output_size) == 1 and dims == 2:
        output_size = output_size * 2
    if len(output_size) != dims:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {dims} ints, got {output_size!r}")
    out = tuple(n if o is None else int(o) for o, n in zip(output_size, in_sizes))
    if any(o < 1 for o in out):
        raise RuntimeError(f"{op}: output_size must be positive, got {output_size!r}")
    return out


def adaptive_avg_pool2d(input, output_size):
    """Average over adaptive windows giving output_size (an int, a pair, None keeps that dim's size)."""
    x, unbatched = _batched(input, "adaptive_avg_pool2d", 2)
    size = _adaptive_size("adaptive_avg_pool2d", output_size, x._data.shape[2:], 2)
    return _unwrap(AdaptiveAvgPool2d.apply(x, size), unbatched, 2)


def adaptive_avg_pool1d(input, output_size):
    x, unbatched = _batched(input, "adaptive_avg_pool1d", 1)
    (size,) = _adaptive_size("adaptive_avg_pool1d", output_size, x._data.shape[2:], 1)
    return _unwrap(AdaptiveAvgPool2d.apply(x.unsqueeze(2), (1, size)), unbatched, 1)


def _adaptive_max(input, output_size, dims, op):
    x, unbatched = _batched(input, op, dims)
    size = _adaptive_size(op, output_size, x._data.shape[2:], dims)
    if dims == 1:
        x, size = x.unsqueeze(2), (1,) + size
    y, idx = AdaptiveMaxPool2d.apply(x, size)
    return _unwrap(y, unbatched, dims), _unwrap(idx, unbatched, dims)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, 2, "adaptive_max_pool2d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    y, idx = _adaptive_max(input, output_size, 2, "adaptive_max_pool2d")
    return (y, idx) if return_indices else y


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, 1, "adaptive_max_pool1d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    y, idx = _adaptive_max(input, output_size, 1, "adaptive_max_pool1d")
    return (y, idx) if return_indices else y


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over the window of x^p)^(1/p), as PyTorch computes it (via avg_pool and the window size)."""
    kh, kw = ntuple(kernel_size, 2, "kernel_size", "lp_pool2d")
    out = avg_pool2d(input.pow(norm_type), (kh, kw), stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kh * kw).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kernel_size).pow(1.0 / norm_type)
