"""conv2d / conv_transpose2d on CUDA: Numba im2col / col2im kernels + cuBLAS GEMM through ``xp.matmul``.

The GEMM orchestration is shared with kernels.cpu (kernels/_conv_im2col.py). Here:
- ``_im2col_kernel``: one thread per column-matrix element (C*kH*kW rows x N*Ho*Wo columns);
  out-of-image taps are written as zeros, so the column matrix needs no initialisation.
- ``_col2im_kernel``: one thread per input element (n, c, h, w) gathering the kH*kW column
  entries that touch it; every element is written exactly once, no atomics.
Both index flat C-contiguous arrays and guard ``i < n``. Launches go through kernels.cuda._launch.
"""
from kernels import _conv_im2col as _impl
from kernels.cuda._launch import cuda, kernel, launch, xp

__all__ = ["conv2d_backward", "conv2d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward"]


@kernel
def _im2col_kernel(x, cols, N, C, H, W, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo, total):
    i = cuda.grid(1)
    if i < total:
        M = N * Ho * Wo
        row = i // M
        col = i - row * M
        c = row // (kH * kW)
        kh = (row // kW) % kH
        kw = row % kW
        n = col // (Ho * Wo)
        ho = (col // Wo) % Ho
        wo = col % Wo
        h = ho * sh - ph + kh * dh
        w = wo * sw - pw + kw * dw
        if 0 <= h < H and 0 <= w < W:
            cols[i] = x[((n * C + c) * H + h) * W + w]
        else:
            cols[i] = 0


@kernel
def _col2im_kernel(cols, gx, zero, N, C, H, W, kH, kW, sh, sw, ph, pw, dh, dw, Ho, Wo, total):
    i = cuda.grid(1)
    if i < total:
        w = i % W
        h = (i // W) % H
        c = (i // (H * W)) % C
        n = i // (C * H * W)
        M = N * Ho * Wo
        acc = zero[0]  # a zero of the arrays' dtype (a literal 0.0 would accumulate in float64)
        for kh in range(kH):
            hh = h + ph - kh * dh
            if hh >= 0 and hh % sh == 0 and hh // sh < Ho:
                ho = hh // sh
                for kw in range(kW):
                    ww = w + pw - kw * dw
                    if ww >= 0 and ww % sw == 0 and ww // sw < Wo:
                        wo = ww // sw
                        row = (c * kH + kh) * kW + kw
                        acc += cols[row * M + (n * Ho + ho) * Wo + wo]
        gx[i] = acc


class _CUDA:
    xp = xp
    chunk_bytes = None  # the whole batch in one GEMM per group: the GPU has no cache to fit

    @staticmethod
    def workspace(slot, shape, dtype):
        return xp.empty(shape, dtype=dtype)  # CuPy's memory pool already reuses device memory

    @staticmethod
    def matmul_nt(a, b, out, accumulate):
        if accumulate:
            out += xp.matmul(a, b.T)
        else:
            xp.matmul(a, b.T, out=out)

    @staticmethod
    def map_batch(run, n, work_bytes):
        return [run(0, n)]  # one launch per step over the whole batch: the GPU has the parallelism

    @staticmethod
    def bias_grad(grad_y):
        return grad_y.sum(axis=(0, 2, 3))

    @staticmethod
    def im2col(x, g, cols, col0):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        N, C, H, W = x.shape
        part = cols if col0 == 0 and cols.shape[1] == N * g.Ho * g.Wo else xp.empty(
            (cols.shape[0], N * g.Ho * g.Wo), dtype=cols.dtype)  # map_batch never splits: not taken there
        launch(_im2col_kernel, part.size, x.reshape(-1), part.reshape(-1), N, C, H, W, g.kH, g.kW,
               sh, sw, ph, pw, dh, dw, g.Ho, g.Wo, part.size)
        if part is not cols:
            cols[:, col0:col0 + part.shape[1]] = part

    @staticmethod
    def col2im(cols, g, gx):
        (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
        N, C, H, W = gx.shape
        launch(_col2im_kernel, gx.size, cols.reshape(-1), gx.reshape(-1), xp.zeros(1, gx.dtype),
               N, C, H, W, g.kH, g.kW,
               sh, sw, ph, pw, dh, dw, g.Ho, g.Wo, gx.size)


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns=False):
    """y = conv2d(x, w) + b, as F.conv2d; x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW).

    With keep_columns, returns (y, columns): the im2col matrix, for conv2d_backward's weight gradient,
    or None when it is larger than kernels._conv_im2col.KEEP_COLUMNS_BYTES.
    """
    return _impl.conv2d_forward(_CUDA, x, w, b, stride, padding, dilation, groups, keep_columns)


def conv2d_backward(grad_y, x, w, stride, padding, dilation, groups, needs, columns=None):
    """(grad_x, grad_w, grad_b) of conv2d; entries whose `needs` flag is False are None. columns: what
    conv2d_forward(..., keep_columns=True) returned for this x, or None to recompute it."""
    return _impl.conv2d_backward(_CUDA, grad_y, x, w, stride, padding, dilation, groups, needs, columns)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """As torch.nn.functional.conv_transpose2d: x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW)."""
    return _impl.conv_transpose2d_forward(_CUDA, x, w, b, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward(grad_y, x, w, stride, padding, output_padding, dilation, groups, needs):
    """(grad_x, grad_w, grad_b) of conv_transpose2d; entries whose `needs` flag is False are None."""
    return _impl.conv_transpose2d_backward(_CUDA, grad_y, x, w, stride, padding, output_padding, dilation,
                                           groups, needs)
