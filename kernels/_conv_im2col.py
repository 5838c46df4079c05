"""conv2d / conv_transpose2d as im2col + one GEMM per group, written once for kernels.cpu and kernels.cuda.

A backend supplies ``xp`` (numpy or cupy), ``workspace(slot, shape, dtype)`` (a scratch array whose
contents are undefined; the CPU reuses one buffer per slot so large temporaries are not page-faulted
in again on every call), ``im2col(x, g, cols, col0)`` (x's columns into cols[:, col0:col0 + N*Ho*Wo]),
``col2im(cols, g, gx)``, ``matmul_nt(a, b, out, accumulate)`` (out = a @ b.T, or out += it: the weight
gradient's GEMM, whose inner dimension is the batch's pixels) and ``map_batch(run, n, work_bytes)``
(``[run(lo, hi)]`` over parts of range(n): the CPU runs parts on parallel threads, see
kernels/cpu/_batch_threads.py; CUDA runs ``run(0, n)``).

Layout: the column matrix is (C*kH*kW, N*Ho*Wo), rows ordered (c, kh, kw), so group g's rows are
one contiguous block and every product is a plain 2-D GEMM on row blocks:
    forward      y_t[Cout, N*Ho*Wo]  = W[Cout, K] @ cols
    grad weight  gW[Cout, K]         = gy_t @ cols.T
    grad input   gcols[K, N*Ho*Wo]   = W.T @ gy_t, then col2im
where y_t / gy_t are the output / grad-output with N and C swapped (one small transpose copy).
conv_transpose2d forward is conv2d's grad-input and its backward is conv2d's forward and
grad-weight, with the ConvGeom from kernels._conv_shapes in conv2d orientation; both read the columns of
the same grad_y, so one im2col per chunk serves the two (``_transposed_backward``).

Column handoff: conv2d_forward(..., keep_columns=True) also returns the column matrix when it is at
most KEEP_COLUMNS_BYTES (else None), and conv2d_backward(..., columns=it) reads it for the weight
gradient instead of running im2col again. The second im2col was 12-14% of LeNet's second layer's
forward+backward; the cap bounds the memory a training step keeps per layer until its backward.
"""
import math

import numpy as np

from kernels._conv_shapes import check_grad_output, check_needs, conv2d_geometry, conv_transpose2d_geometry


def _compute_dtype(dtype):
    # float16 runs in float32 (BLAS has no half GEMM on the CPU) and is cast back at the end
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _prepare(B, *arrays):
    """C-contiguous copies (or the arrays themselves) in the compute dtype: kernels index flat."""
    return [None if a is None else B.xp.ascontiguousarray(a, dtype=_compute_dtype(a.dtype)) for a in arrays]


def _group_blocks(g):
    cog, kg = g.C_out // g.groups, (g.C // g.groups) * g.kH * g.kW
    return [(slice(i * cog, (i + 1) * cog), slice(i * kg, (i + 1) * kg)) for i in range(g.groups)]


def _chunks(B, g, n0, n1):
    """Ranges [c0, c1) of the batch part [n0, n1) whose column matrix fits B.chunk_bytes (None: the
    whole part at once).

    On the CPU each chunk's columns are written by im2col and read back by the GEMM (or written by
    the GEMM and read by col2im) while still in cache, instead of streaming through DRAM twice.
    """
    step = n1 - n0 if B.chunk_bytes is None else max(1, B.chunk_bytes // max(_sample_bytes(g), 1))
    return [(c0, min(c0 + step, n1)) for c0 in range(n0, n1, max(step, 1))]


def _sample_bytes(g):
    return g.C * g.kH * g.kW * g.Ho * g.Wo * 4


KEEP_COLUMNS_BYTES = 4 << 20


def _columns_shape(g):
    return g.C * g.kH * g.kW, g.N * g.Ho * g.Wo


def keeps_columns(g, dtype, keep_columns):
    """Whether forward hands its column matrix to backward: asked to, and at most KEEP_COLUMNS_BYTES."""
    return keep_columns and math.prod(_columns_shape(g)) * np.dtype(dtype).itemsize <= KEEP_COLUMNS_BYTES


def _to_channel_major(B, a, slot):
    """(N, C, H, W) -> (C, N*H*W) copy (a view when N == 1)."""
    N, C, H, W = a.shape
    if N == 1:
        return a.reshape(C, H * W)
    t = B.workspace(slot, (C, N * H * W), a.dtype)
    t.reshape(C, N, H * W)[...] = a.reshape(N, C, H * W).transpose(1, 0, 2)
    return t


def forward(B, x, w, b, g, keep_columns=False):
    """(conv2d of contiguous x (g's input side) with w (C_out, C/groups, kH, kW), plus optional bias;
    the column matrix when keep_columns and it fits KEEP_COLUMNS_BYTES, else None).

    B.map_batch runs parts of the batch in parallel (CPU) or the whole batch at once (CUDA); each part
    goes chunk by chunk. Kept columns are one new array that each part fills at its own columns.
    """
    xp = B.xp
    w2 = _weight_matrix(w, g)
    y = xp.empty((g.N, g.C_out, g.Ho, g.Wo), dtype=x.dtype)
    HW = g.Ho * g.Wo
    keep = keeps_columns(g, x.dtype, keep_columns)
    columns = xp.empty(_columns_shape(g), dtype=x.dtype) if keep else None

    def run(n0, n1):
        for c0, c1 in [(n0, n1)] if keep else _chunks(B, g, n0, n1):
            gc = g._replace(N=c1 - c0)
            if keep:
                B.im2col(x[c0:c1], gc, columns, c0 * HW)
                cols = columns[:, c0 * HW:c1 * HW]
            else:
                cols = B.workspace("cols", _columns_shape(gc), x.dtype)
                B.im2col(x[c0:c1], gc, cols, 0)
            _columns_times_weight(B, w2, cols, b, gc, y[c0:c1])

    B.map_batch(run, g.N, g.N * _sample_bytes(g))
    return y, columns


def _weight_matrix(w, g):
    return w.reshape(g.C_out, (g.C // g.groups) * g.kH * g.kW)


def _columns_times_weight(B, w2, cols, b, gc, yc):
    """yc (gc.N, C_out, Ho, Wo) = the weight matrix w2 times a chunk's columns, plus the bias b (or None)."""
    xp = B.xp
    HW = gc.Ho * gc.Wo
    if gc.N == 1:
        y_t = yc.reshape(gc.C_out, HW)
    else:
        y_t = B.workspace("out_t", (gc.C_out, gc.N * HW), cols.dtype)
    for rows, krows in _group_blocks(gc):
        xp.matmul(w2[rows], cols[krows], out=y_t[rows])
    if gc.N == 1:
        if b is not None:
            yc += b.reshape(1, -1, 1, 1)
        return
    src = y_t.reshape(gc.C_out, gc.N, HW).transpose(1, 0, 2)
    if b is None:
        yc.reshape(gc.N, gc.C_out, HW)[...] = src
    else:
        xp.add(src, b.reshape(1, -1, 1), out=yc.reshape(gc.N, gc.C_out, HW))


def backward(B, gy, x, w, g, need_x, need_w, columns=None):
    """(grad_x, grad_w) of sum(gy * conv2d(x, w)); one gy transpose per chunk serves both, and one im2col
    per chunk (none when forward's columns, the whole batch's, are handed in). Each part of the batch
    (B.map_batch) sums its own weight gradient; the parts' sums are added in order."""
    if not (need_x or need_w):
        return None, None
    xp = B.xp
    w2 = _weight_matrix(w, g)
    gx = xp.empty((g.N, g.C, g.H, g.W), dtype=gy.dtype) if need_x else None
    HW = g.Ho * g.Wo

    def run(n0, n1):
        gw = xp.zeros(w2.shape, dtype=gy.dtype) if need_w else None
        for c0, c1 in _chunks(B, g, n0, n1):
            gc = g._replace(N=c1 - c0)
            gy_t = _to_channel_major(B, gy[c0:c1], "grad_t")
            if need_w:
                if columns is None:
                    cols = B.workspace("cols", _columns_shape(gc), x.dtype)
                    B.im2col(x[c0:c1], gc, cols, 0)
                else:
                    cols = columns[:, c0 * HW:c1 * HW]
                for rows, krows in _group_blocks(g):
                    B.matmul_nt(gy_t[rows], cols[krows], gw[rows], c0 > n0)
            if need_x:
                gcols = B.workspace("gcols", (w2.shape[1] * g.groups, gy_t.shape[1]), gy.dtype)
                for rows, krows in _group_blocks(g):
                    xp.matmul(w2[rows].T, gy_t[rows], out=gcols[krows])
                B.col2im(gcols, gc, gx[c0:c1])
        return gw

    return gx, _summed_weight_grad(B.map_batch(run, g.N, g.N * _sample_bytes(g)), w, need_w)


def _summed_weight_grad(parts, w, need_w):
    """The parts' weight gradients added in order (None when not needed), in w's shape."""
    if not need_w:
        return None
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    return gw.reshape(w.shape)


def grad_input(B, gy, w, g):
    """Adjoint of forward's x -> y (without bias): gy (N, C_out, Ho, Wo) -> (N, C, H, W)."""
    return backward(B, gy, None, w, g, True, False)[0]


def _finish(dtype, *arrays):
    return tuple(None if a is None else a.astype(dtype, copy=False) for a in arrays)


def conv2d_forward(B, x, w, b, stride, padding, dilation, groups, keep_columns):
    g = conv2d_geometry("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    return checked_forward(B, x, w, b, g, keep_columns)


def checked_forward(B, x, w, b, g, keep_columns):
    """conv2d_forward for arguments whose geometry g conv2d_geometry has already checked."""
    dtype = x.dtype
    x, w, b = _prepare(B, x, w, b)
    y, cols = forward(B, x, w, b, g, keep_columns)
    y = _finish(dtype, y)[0]
    return (y, cols) if keep_columns else y


def _check_columns(op, B, columns, g, dtype):
    if columns is None:
        return
    expected, dtype = _columns_shape(g), _compute_dtype(dtype)
    if not (isinstance(columns, B.xp.ndarray) and tuple(columns.shape) == expected and columns.dtype == dtype
            and columns.flags.c_contiguous):
        raise ValueError(f"{op}: columns must be the C-contiguous {expected} {dtype} array that "
                         f"conv2d_forward(..., keep_columns=True) returned for this input, got "
                         f"{type(columns).__name__} of shape {getattr(columns, 'shape', None)} and dtype "
                         f"{getattr(columns, 'dtype', None)}")


def backward_args(B, grad_y, x, w, stride, padding, dilation, groups, needs, columns):
    """Check conv2d_backward's arguments: (the geometry, (need_x, need_w, need_b))."""
    op = "conv2d_backward"
    g = conv2d_geometry(op, x, w, None, stride, padding, dilation, groups)
    check_grad_output(op, grad_y, (g.N, g.C_out, g.Ho, g.Wo), x.dtype)
    flags = check_needs(op, needs)
    _check_columns(op, B, columns, g, x.dtype)
    return g, flags


def conv2d_backward(B, grad_y, x, w, stride, padding, dilation, groups, needs, columns):
    g, needs = backward_args(B, grad_y, x, w, stride, padding, dilation, groups, needs, columns)
    return checked_backward(B, grad_y, x, w, g, needs, columns)


def checked_backward(B, grad_y, x, w, g, needs, columns):
    """conv2d_backward for arguments backward_args has already checked (needs: its three flags)."""
    need_x, need_w, need_b = needs
    dtype = x.dtype
    grad_y, x, w = _prepare(B, grad_y, x, w)
    gx, gw = backward(B, grad_y, x, w, g, need_x, need_w, columns)
    gb = B.bias_grad(grad_y) if need_b else None
    return _finish(dtype, gx, gw, gb)


def conv_transpose2d_forward(B, x, w, b, stride, padding, output_padding, dilation, groups):
    op = "conv_transpose2d_forward"
    g = conv_transpose2d_geometry(op, x, w, b, stride, padding, output_padding, dilation, groups)
    dtype = x.dtype
    x, w, b = _prepare(B, x, w, b)
    y = grad_input(B, x, w, g)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return _finish(dtype, y)[0]


def conv_transpose2d_backward(B, grad_y, x, w, stride, padding, output_padding, dilation, groups, needs):
    op = "conv_transpose2d_backward"
    g = conv_transpose2d_geometry(op, x, w, None, stride, padding, output_padding, dilation, groups)
    check_grad_output(op, grad_y, (g.N, g.C, g.H, g.W), x.dtype)
    need_x, need_w, need_b = check_needs(op, needs)
    dtype = x.dtype
    grad_y, x, w = _prepare(B, grad_y, x, w)
    gx, gw = _transposed_backward(B, grad_y, x, w, g, need_x, need_w)
    gb = B.bias_grad(grad_y) if need_b else None
    return _finish(dtype, gx, gw, gb)


def _transposed_backward(B, gy, x, w, g, need_x, need_w):
    """(grad_x, grad_w) of conv_transpose2d, g being the conv2d whose input side is gy: grad_x is that
    conv2d of gy with w, grad_w its weight gradient with x as the output gradient; both are products with
    gy's columns, so one im2col per chunk serves the two (before, each gradient ran its own)."""
    if not (need_x or need_w):
        return None, None
    xp = B.xp
    w2 = _weight_matrix(w, g)
    gx = xp.empty((g.N, g.C_out, g.Ho, g.Wo), dtype=gy.dtype) if need_x else None

    def run(n0, n1):
        gw = xp.zeros(w2.shape, dtype=gy.dtype) if need_w else None
        for c0, c1 in _chunks(B, g, n0, n1):
            gc = g._replace(N=c1 - c0)
            cols = B.workspace("cols", _columns_shape(gc), gy.dtype)
            B.im2col(gy[c0:c1], gc, cols, 0)
            if need_w:
                x_t = _to_channel_major(B, x[c0:c1], "grad_t")
                for rows, krows in _group_blocks(g):
                    B.matmul_nt(x_t[rows], cols[krows], gw[rows], c0 > n0)
            if need_x:
                _columns_times_weight(B, w2, cols, None, gc, gx[c0:c1])
        return gw

    return gx, _summed_weight_grad(B.map_batch(run, g.N, g.N * _sample_bytes(g)), w, need_w)
