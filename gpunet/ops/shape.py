"""Shape ops: views, permutations, expand/repeat/flip, cat/stack/split. Indexing lives in ops/indexing.py."""
import numpy as np

from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.ops._util import _view_of, norm_dims, unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.indexing import getitem
from gpunet.tensor import Tensor, _dim, _make


def _sizes(args, op):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    try:
        return tuple(int(a) for a in args)
    except TypeError:
        raise TypeError(f"{op}(): sizes must be ints, got {args}") from None


class Reshape(Op):
    _backward_name = "ViewBackward0"
    _is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None

    @staticmethod
    def backward_graph(ctx, g):
        return g.reshape(ctx.in_shape), None


def _infer_shape(shape, numel, op, in_shape):
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {list(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {list(shape)}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel} "
                           f"(input shape {list(in_shape)})")
    return shape


def reshape(input, *shape):
    shape = _infer_shape(_sizes(shape, "reshape"), input._data.size, "reshape", input._data.shape)
    if shape == input._data.shape:
        return _view_of(Reshape.apply(input, shape), input)
    out = Reshape.apply(input, shape)
    if out._data.base is not None:
        _view_of(out, input)
    return out


def view(input, *shape):
    if shape and not isinstance(shape[0], (int, tuple, list)):
        return input.to(shape[0])  # view(dtype): reinterpret is not supported; cast keeps values
    shape = _infer_shape(_sizes(shape, "view"), input._data.size, "view", input._data.shape)
    if not input._data.flags.c_contiguous and input._data.size > 1 and shape != input._data.shape:
        # a strided array may still be viewable; numpy tells us by refusing to copy
        try:
            input._data.view().shape = shape
        except AttributeError:
            raise RuntimeError(f"view size is not compatible with input tensor's size and stride (shape "
                               f"{list(input._data.shape)}, strides {input.stride()}); "
                               "use .reshape(...) instead.") from None
    return _view_of(Reshape.apply(input, shape), input)


def view_as(input, other):
    return view(input, other._data.shape)


def reshape_as(input, other):
    return reshape(input, other._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = _dim(start_dim, nd, "flatten"), _dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input._data.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(input, shape[:s] + (n,) + shape[e + 1:])


def unflatten(input, dim, sizes):
    d = _dim(dim, input._data.ndim, "unflatten")
    shape = input._data.shape
    sizes = _infer_shape(tuple(sizes), shape[d], "unflatten", shape)
    return reshape(input, shape[:d] + sizes + shape[d + 1:])


def squeeze(input, dim=None):
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = norm_dims(dim, input._data.ndim, "squeeze") if shape else ()
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return _view_of(Reshape.apply(input, new), input)


def unsqueeze(input, dim):
    nd = input._data.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    d = dim % nd
    shape = input._data.shape
    return _view_of(Reshape.apply(input, shape[:d] + (1,) + shape[d:]), input)


class Permute(Op):
    _backward_name = "PermuteBackward0"
    _is_view = True

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return g.transpose(inverse), None

    @staticmethod
    def backward_graph(ctx, g):
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return g.permute(inverse), None


def permute(input, *dims):
    dims = _sizes(dims, "permute")
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {nd} is not "
                           f"equal to len(dims) = {len(dims)}")
    axes = norm_dims(dims, nd, "permute")
    if len(set(axes)) != nd:
        raise RuntimeError(f"permute(): duplicate dims are not allowed, got {list(dims)}")
    return _view_of(Permute.apply(input, axes), input)


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return input
    d0, d1 = _dim(dim0, nd, "transpose"), _dim(dim1, nd, "transpose")
    axes = list(range(nd))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return _view_of(Permute.apply(input, tuple(axes)), input)


swapaxes = swapdims = transpose


def t(input):
    if input._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D")
    return transpose(input, 0, 1) if input._data.ndim == 2 else input


def movedim(input, source, destination):
    nd = input._data.ndim
    src, dst = norm_dims(source, nd, "movedim"), norm_dims(destination, nd, "movedim")
    order = [d for d in range(nd) if d not in src]
    for s, d in sorted(zip(dst, src)):
        order.insert(s, d)
    return permute(input, order)


class Expand(Op):
    _backward_name = "ExpandBackward0"
    _is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return ctx.device.xp.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.in_shape), None

    @staticmethod
    def backward_graph(ctx, g):
        return unbroadcast_t(g, ctx.in_shape), None


def expand(input, *sizes):
    sizes = _sizes(sizes, "expand")
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
                           f"the number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        cur = shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) "
                               f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  "
                               f"Tensor sizes: {list(shape)}")
        target.append(s)
    return _view_of(Expand.apply(input, tuple(target)), input)


def expand_as(input, other):
    return expand(input, other._data.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[t._data.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


class Contiguous(Op):
    _backward_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, a, copy):
        xp = ctx.device.xp
        return a.copy() if copy else xp.ascontiguousarray(a)

    @staticmethod
    def backward(ctx, g):
        return g, None

    @staticmethod
    def backward_graph(ctx, g):
        return g, None


def contiguous(input, memory_format=None):
    if input._data.flags.c_contiguous:
        return input
    return Contiguous.apply(input, False)


def clone(input, memory_format=None):
    return Contiguous.apply(input, True)


class Repeat(Op):
    _backward_name = "RepeatBackward0"

    @staticmethod
    def forward(ctx, a, reps):
        lead = len(reps) - a.ndim
        ctx.in_shape = (1,) * lead + a.shape
        ctx.orig_shape = a.shape
        ctx.reps = reps
        return ctx.device.xp.tile(a.reshape(ctx.in_shape), reps)

    @staticmethod
    def backward(ctx, g):
        split = []
        for r, s in zip(ctx.reps, ctx.in_shape):
            split += [r, s]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g.reshape(ctx.orig_shape), None

    @staticmethod
    def backward_graph(ctx, g):
        split = []
        for r, s in zip(ctx.reps, ctx.in_shape):
            split += [r, s]
        g = g.reshape(split).sum(dim=tuple(range(0, len(split), 2)))
        return g.reshape(ctx.orig_shape), None


def repeat(input, *sizes):
    sizes = _sizes(sizes, "repeat")
    if len(sizes) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           f"of tensor (repeat dims {list(sizes)}, tensor shape {list(input._data.shape)})")
    return Repeat.apply(input, sizes)


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input._data.ndim:
        dims = (1,) * (input._data.ndim - len(dims)) + dims
    return repeat(input, dims)


class Flip(Op):
    _backward_name = "FlipBackward0"

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return ctx.device.xp.flip(a, axis=axes)

    @staticmethod
    def backward(ctx, g):
        return ctx.device.xp.flip(g, axis=ctx.axes), None

    @staticmethod
    def backward_graph(ctx, g):
        return Flip.apply(g, ctx.axes), None


def flip(input, *dims):
    return Flip.apply(input, norm_dims(_sizes(dims, "flip"), input._data.ndim, "flip"))


class Roll(Op):
    _backward_name = "RollBackward0"

    @staticmethod
    def forward(ctx, a, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return ctx.device.xp.roll(a, shifts, axis=axes)

    @staticmethod
    def backward(ctx, g):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return ctx.device.xp.roll(g, neg, axis=ctx.axes), None, None

    @staticmethod
    def backward_graph(ctx, g):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return Roll.apply(g, neg, ctx.axes), None, None


def roll(input, shifts, dims=None):
    return Roll.apply(input, tuple(shifts) if isinstance(shifts, (list, tuple)) else shifts,
                      None if dims is None else norm_dims(dims, input._data.ndim, "roll"))


# ---- joining and splitting -------------------------------------------------------------------------
class Cat(Op):
    _backward_name = "CatBackward0"

    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.device.xp.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        grads, start = [None], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad[1:]):
            if need:
                idx = [slice(None)] * g.ndim
                idx[ctx.dim] = slice(start, start + size)
                grads.append(g[tuple(idx)])
            else:
                grads.append(None)
            start += size
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, g):
        grads, start = [None], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad[1:]):
            grads.append(g.narrow(ctx.dim, start, size) if need else None)
            start += size
        return tuple(grads)


def cat(tensors, dim=0):
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    nonempty = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)] or tensors[:1]
    ref = nonempty[0]
    d = _dim(dim, ref._data.ndim, "cat")
    for i, t in enumerate(nonempty):
        if t._data.ndim != ref._data.ndim:
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {ref._data.ndim} "
                               f"and {t._data.ndim}")
        for k, (a, b) in enumerate(zip(ref._data.shape, t._data.shape)):
            if k != d and a != b:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {a} but got size {b} for tensor number {i} in the list.")
    first = nonempty[0]._data.dtype
    if any(t._data.dtype != first for t in nonempty):  # PyTorch's type promotion over the list
        dtype = nonempty[0].dtype
        for t in nonempty[1:]:
            dtype = _dt.result_type(_make(t._data.reshape(-1)[:0], t._device).to(dtype), t)
        nonempty = [t if t.dtype is dtype else t.to(dtype) for t in nonempty]
    return Cat.apply(d, *nonempty)


concat = concatenate = cat


class Stack(Op):
    """Arrays of one shape and dtype joined along a new dim (a batch of samples in DataLoader's collate: one
    op, not one unsqueeze per sample and a cat, ~4 us a sample); gradients are the slices along it."""
    _backward_name = "StackBackward0"

    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return ctx.device.xp.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        lead, d = (slice(None),) * ctx.dim, ctx.dim
        shape = g.shape[:d] + g.shape[d + 1:]
        # one-wide slices reshaped, not g[..., i]: that gives a NumPy scalar, not an array, for 0-d entries
        return (None,) + tuple(g[lead + (slice(i, i + 1),)].reshape(shape) if need else None
                               for i, need in enumerate(ctx.needs_input_grad[1:]))

    @staticmethod
    def backward_graph(ctx, g):
        return (None,) + tuple(g.select(ctx.dim, i) if need else None
                               for i, need in enumerate(ctx.needs_input_grad[1:]))


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} "
                               f"at entry 0 and {list(t._data.shape)} at entry {i}")
    nd = len(shape) + 1
    if not -nd <= dim < nd:
        raise IndexError(f"stack: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    dtype = tensors[0]._data.dtype
    if all(isinstance(t, Tensor) and t._data.dtype == dtype for t in tensors):
        return Stack.apply(dim % nd, *tensors)
    return cat([unsqueeze(t, dim) for t in tensors], dim)  # cat's type promotion and checks


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].dim() == 1 else 1)


def vstack(tensors):
    return cat([t if t.dim() > 1 else t.reshape(1, -1) for t in tensors], 0)


class Split(Op):
    """x cut along dim into pieces of the given sizes, each a view. Its backward joins the pieces' gradients
    in one concatenation (zeros where a piece got none): pieces taken by indexing would each scatter into
    zeros of x's whole shape, and summing those costs pieces x size(x) (quadratic in an RNN's length)."""
    _backward_name = "SplitWithSizesBackward0"
    _drop_dim = False
    _is_view = True  # an in-place op on a piece of a tensor that requires grad is refused (check_inplace)

    @staticmethod
    def forward(ctx, x, dim, sizes):
        ctx.dim, ctx.dtype = dim, x.dtype
        pieces, start = [], 0
        idx = [slice(None)] * x.ndim
        for size in sizes:
            idx[dim] = start if ctx._fn._drop_dim else slice(start, start + size)
            pieces.append(x[tuple(idx) + (Ellipsis,)])  # the Ellipsis keeps a 0-d piece a view
            start += size
        ctx.shapes = [p.shape for p in pieces]
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        xp = ctx.device.xp
        parts = [xp.zeros(shape, dtype=ctx.dtype) if g is None else g for g, shape in zip(grads, ctx.shapes)]
        if ctx._fn._drop_dim:  # the Op class: Split or Unbind
            parts = [xp.expand_dims(p, ctx.dim) for p in parts]
        return xp.concatenate(parts, axis=ctx.dim), None, None

    @staticmethod
    def backward_graph(ctx, *grads):
        xp = ctx.device.xp
        parts = [_make(xp.zeros(shape, dtype=ctx.dtype), ctx.device) if g is None else g
                 for g, shape in zip(grads, ctx.shapes)]
        if ctx._fn._drop_dim:  # the Op class: Split or Unbind
            parts = [unsqueeze(p, ctx.dim) for p in parts]
        return Cat.apply(ctx.dim, *parts), None, None


class Unbind(Split):
    """Split into pieces of size 1 that drop dim."""
    _backward_name = "UnbindBackward0"
    _drop_dim = True


def _pieces(op, tensor, dim, sizes):
    return tuple(_view_of(p, tensor) for p in op.apply(tensor, dim, tuple(sizes)))


def split(tensor, split_size_or_sections, dim=0):
    d = _dim(dim, tensor._data.ndim, "split")
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0 and n:
            raise RuntimeError(f"split(): split_size must be positive, got {split_size_or_sections}")
        step = split_size_or_sections or 1
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    return _pieces(Split, tensor, d, sizes)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input._data.shape[_dim(dim, input._data.ndim, "chunk")]
    size = -(-n // chunks) if n else 1
    return split(input, size, dim)


def unbind(input, dim=0):
    d = _dim(dim, input._data.ndim, "unbind")
    return _pieces(Unbind, input, d, [1] * input._data.shape[d])


def narrow(input, dim, start, length):
    d = _dim(dim, input._data.ndim, "narrow")
    idx = [slice(None)] * input._data.ndim
    idx[d] = slice(start, start + length)
    return getitem(input, tuple(idx))


def select(input, dim, index):
    d = _dim(dim, input._data.ndim, "select")
    idx = [slice(None)] * input._data.ndim
    idx[d] = index
    return getitem(input, tuple(idx))
