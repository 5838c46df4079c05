"""Shape and indexing ops: views, permutations, cat/stack/split, getitem/setitem, gather/scatter, where."""
from gpunet.autograd.function import Op
from gpunet.autograd.grad_mode import _enabled
from gpunet.ops._util import norm_dims, unbroadcast
from gpunet.tensor import Tensor, _dim, _make


def _view_of(out, base):
    """Views share their base's version counter, so an in-place change through either is seen."""
    out._vc = base._vc
    return out


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
                               f"{list(input._data.shape)}, strides {input.stride()}); use .reshape(...) instead.") from None
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


def permute(input, *dims):
    dims = _sizes(dims, "permute")
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
                           f"len(dims) = {len(dims)}")
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


def expand(input, *sizes):
    sizes = _sizes(sizes, "expand")
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        cur = shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(shape)}")
        target.append(s)
    return _view_of(Expand.apply(input, tuple(target)), input)


def expand_as(input, other):
    return expand(input, other._data.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def broadcast_tensors(*tensors):
    import numpy as np
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


def repeat(input, *sizes):
    sizes = _sizes(sizes, "repeat")
    if len(sizes) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           f"tensor (repeat dims {list(sizes)}, tensor shape {list(input._data.shape)})")
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
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {ref._data.ndim} and "
                               f"{t._data.ndim}")
        for k, (a, b) in enumerate(zip(ref._data.shape, t._data.shape)):
            if k != d and a != b:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {d}. Expected size {a} "
                                   f"but got size {b} for tensor number {i} in the list.")
    dtype = nonempty[0].dtype
    from gpunet import dtypes
    for t in nonempty[1:]:
        dtype = dtypes.result_type(_make(t._data.reshape(-1)[:0], t._device).to(dtype), t)
    nonempty = [t if t.dtype is dtype else t.to(dtype) for t in nonempty]
    return Cat.apply(d, *nonempty)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                               f"{list(t._data.shape)} at entry {i}")
    nd = len(shape) + 1
    if not -nd <= dim < nd:
        raise IndexError(f"stack: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].dim() == 1 else 1)


def vstack(tensors):
    return cat([t if t.dim() > 1 else t.reshape(1, -1) for t in tensors], 0)


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
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(tensor, d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input._data.shape[_dim(dim, input._data.ndim, "chunk")]
    size = -(-n // chunks) if n else 1
    return split(input, size, dim)


def unbind(input, dim=0):
    d = _dim(dim, input._data.ndim, "unbind")
    return tuple(select(input, d, i) for i in range(input._data.shape[d]))


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


# ---- indexing --------------------------------------------------------------------------------------
def _convert_index(index, device):
    """Tensors inside an index become arrays; returns (index, is_advanced)."""
    if not isinstance(index, tuple):
        index = (index,)
    out, advanced = [], False
    for i in index:
        if isinstance(i, Tensor):
            if i._device is not device:
                raise RuntimeError(f"indices should be either on cpu or on the same device as the indexed tensor "
                                   f"({device}), got {i._device}")
            if i._data.dtype.kind not in "biu":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got {i.dtype}")
            out.append(i._data)
            advanced = True
        elif isinstance(i, (list, range)) or hasattr(i, "__array__") and not isinstance(i, (int, slice)):
            out.append(device.xp.asarray(i))
            advanced = True
        elif i is None or i is Ellipsis or isinstance(i, (int, slice)) or type(i).__name__ == "bool":
            out.append(i)
        elif hasattr(i, "__index__"):
            out.append(int(i))
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte tensors are "
                             f"valid indices (got {type(i).__name__})")
    return tuple(out), advanced


class Index(Op):
    _backward_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, a, index, advanced):
        ctx.shape, ctx.index, ctx.advanced = a.shape, index, advanced
        return a[index]

    @staticmethod
    def backward(ctx, g):
        xp = ctx.device.xp
        out = xp.zeros(ctx.shape, dtype=g.dtype)
        if ctx.advanced:
            ctx.device.backend.scatter_add(out, ctx.index, g)
        else:
            out[ctx.index] = g
        return out, None, None


def _ints_first(idx, ndim):
    """Split idx into (integer part, rest): PyTorch applies integer indices before advanced ones, while
    NumPy treats them as advanced indices, which moves the result's dims when a slice separates them."""
    def consumed(i):
        if i is None or i is Ellipsis:
            return 0
        return i.ndim if getattr(i, "dtype", None) is not None and i.dtype.kind == "b" else 1
    n_ellipsis = ndim - sum(consumed(i) for i in idx)
    first, rest = [], []
    for i in idx:
        if type(i) is int:
            first.append(i)
        elif i is Ellipsis:
            first += [slice(None)] * n_ellipsis
            rest.append(i)
        else:
            first += [slice(None)] * consumed(i)
            rest.append(i)
    return tuple(first), tuple(rest)


class IndexView(Index):
    """Basic indexing (ints, slices, None, ...): the result is a view of the input's storage."""
    _backward_name = "IndexBackward0"
    _is_view = True


def getitem(input, index):
    idx, advanced = _convert_index(index, input._device)
    if advanced and any(type(i) is int for i in idx):
        first, rest = _ints_first(idx, input._data.ndim)
        return getitem(getitem(input, first), rest)
    try:
        if advanced:
            return Index.apply(input, idx, advanced)
        # the trailing Ellipsis makes NumPy return a 0-d view rather than a scalar copy for x[i] of a vector
        out = IndexView.apply(input, idx if Ellipsis in idx else idx + (Ellipsis,), advanced)
    except IndexError as exc:
        raise IndexError(f"{exc} (indexing a tensor of shape {list(input._data.shape)})") from None
    return _view_of(out, input)


class _Chained(tuple):
    """An index applied in two steps, (integer part, rest): see _ints_first."""


def _at(arr, index):
    return arr[index[0]][index[1]] if type(index) is _Chained else arr[index]


def _put(arr, index, value):
    if type(index) is _Chained:
        arr[index[0]][index[1]] = value  # the integer part is basic indexing: a view
    else:
        arr[index] = value


class IndexPut(Op):
    _backward_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, a, index, value, advanced):
        ctx.index, ctx.advanced = index, advanced
        ctx.value_shape = getattr(value, "shape", ())
        out = a.copy()
        _put(out, index, value)
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            _put(ga, ctx.index, 0)
        if ctx.needs_input_grad[2]:
            gv = unbroadcast(_at(g, ctx.index), ctx.value_shape)
        return ga, None, gv, None


def setitem(input, index, value):
    """input[index] = value, in place; recorded by autograd when input or value requires grad."""
    from gpunet.ops.inplace import check_inplace, commit_inplace
    idx, advanced = _convert_index(index, input._device)
    if advanced and any(type(i) is int for i in idx):
        idx = _Chained(_ints_first(idx, input._data.ndim))
    if isinstance(value, Tensor):
        if value._data.dtype != input._data.dtype:
            value = value.to(input.dtype)
        if value._device is not input._device:
            raise RuntimeError(f"setitem: value is on {value._device} but the tensor is on {input._device}")
    recorded = _enabled[0] and (input._requires_grad or isinstance(value, Tensor) and value._requires_grad)
    if not recorded:
        _put(input._data, idx, value._data if isinstance(value, Tensor) else value)
        input._vc[0] += 1
        return
    check_inplace(input, "setitem")
    out = IndexPut.apply(input, idx, value, advanced)
    commit_inplace(input, out)


class Gather(Op):
    _backward_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.dim = a.shape, dim
        ctx.save_for_backward(index)
        return ctx.device.xp.take_along_axis(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = ctx.device.xp.zeros(ctx.shape, dtype=g.dtype)
        ctx.device.backend.scatter_add(out, _full_index(ctx.device.xp, index, ctx.dim), g)
        return out, None, None


def _full_index(xp, index, dim):
    """Index arrays addressing a[..., index, ...] elementwise along dim (for scatter/gather)."""
    grids = list(xp.ogrid[tuple(slice(0, s) for s in index.shape)]) if index.ndim else []
    grids[dim] = index
    return tuple(grids)


def _check_index(input, index, dim, op):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got "
                           f"{index.dtype if isinstance(index, Tensor) else type(index).__name__}")
    if index._data.ndim != input._data.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index shape {list(index._data.shape)}, input shape {list(input._data.shape)})")
    return _dim(dim, input._data.ndim, op)


def gather(input, dim, index):
    d = _check_index(input, index, dim, "gather")
    for k, (si, sa) in enumerate(zip(index._data.shape, input._data.shape)):
        if k != d and si > sa:
            raise RuntimeError(f"gather(): Size does not match at dimension {k} expected index "
                               f"{list(index._data.shape)} to be smaller than self {list(input._data.shape)} "
                               f"apart from dimension {d}")
    n = input._data.shape[d]
    if index._data.size and (int(index._data.max()) >= n or int(index._data.min()) < -n):
        raise RuntimeError(f"gather(): index out of bounds for dimension {d} with size {n}")
    a = input
    if index._data.shape != input._data.shape:
        sl = tuple(slice(0, s) if k != d else slice(None) for k, s in enumerate(index._data.shape))
        a = getitem(input, sl)
    return Gather.apply(a, d, index._data)


class Scatter(Op):
    _backward_name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, a, dim, index, src, reduce_add):
        xp = ctx.device.xp
        full = _full_index(xp, index, dim)
        out = a.copy()
        values = src if hasattr(src, "shape") and src.shape == index.shape else (
            xp.broadcast_to(src, index.shape) if not hasattr(src, "shape") else src[tuple(slice(0, s) for s in index.shape)])
        if reduce_add:
            ctx.device.backend.scatter_add(out, full, values)
        else:
            out[full] = values
        ctx.full, ctx.reduce_add, ctx.src_shape = full, reduce_add, getattr(src, "shape", None)
        ctx.index_shape = index.shape
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.reduce_add else g.copy()
            if not ctx.reduce_add:
                ga[ctx.full] = 0
        if ctx.needs_input_grad[3]:
            gs = ctx.device.xp.zeros(ctx.src_shape, dtype=g.dtype)
            gs[tuple(slice(0, s) for s in ctx.index_shape)] = g[ctx.full]
        return ga, None, None, gs, None


def scatter(input, dim, index, src=None, value=None, reduce=None):
    d = _check_index(input, index, dim, "scatter")
    if src is None:
        src = value
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported; use scatter_add")
    if isinstance(src, Tensor) and src._data.dtype != input._data.dtype:
        src = src.to(input.dtype)
    return Scatter.apply(input, d, index._data, src, reduce == "add")


def scatter_add(input, dim, index, src):
    d = _check_index(input, index, dim, "scatter_add")
    return Scatter.apply(input, d, index._data, src, True)


class IndexSelect(Op):
    _backward_name = "IndexSelectBackward0"

    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.dim = a.shape, dim
        ctx.save_for_backward(index)
        return ctx.device.xp.take(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = ctx.device.xp.zeros(ctx.shape, dtype=g.dtype)
        idx = [slice(None)] * g.ndim
        idx[ctx.dim] = index
        ctx.device.backend.scatter_add(out, tuple(idx), g)
        return out, None, None


def index_select(input, dim, index):
    if not isinstance(index, Tensor) or index._data.ndim > 1 or index._data.dtype.kind not in "iu":
        raise IndexError("index_select(): Index is supposed to be a vector of integer indices")
    d = _dim(dim, input._data.ndim, "index_select")
    n = input._data.shape[d] if input._data.ndim else 1
    if index._data.size and (int(index._data.max()) >= n or int(index._data.min()) < -n):
        raise IndexError(f"index_select(): index out of range in self (dimension {d} has size {n})")
    return IndexSelect.apply(input, d, index._data.reshape(-1))


class Where(Op):
    _backward_name = "WhereBackward0"

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        return ctx.device.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        ga = unbroadcast(g * cond, ctx.shapes[0]) if na else None
        gb = unbroadcast(g * ~cond, ctx.shapes[1]) if nb else None
        return None, ga, gb


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    from gpunet.ops._util import promote
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):  # where(cond, 1.0, 0.0)
        from gpunet import dtypes
        input = _make(condition._device.xp.asarray(input, dtype=dtypes.result_type(input, other).np),
                      condition._device)
    a, b = promote(input, other, "where")
    cond = condition._data if isinstance(condition, Tensor) else condition
    if cond.dtype.kind != "b":
        cond = cond != 0
    t = a if isinstance(a, Tensor) else b
    dev = t._device
    cond_t = _make(cond, condition._device if isinstance(condition, Tensor) else dev)
    if not isinstance(a, Tensor):
        a = _make(dev.xp.asarray(a, dtype=t._data.dtype), dev)
    if not isinstance(b, Tensor):
        b = _make(dev.xp.asarray(b, dtype=t._data.dtype), dev)
    return Where.apply(cond_t, a, b)


def masked_fill(input, mask, value):
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._data.ndim} dimension(s).")
        value = value.to(input.dtype)
    else:
        value = _make(input._device.xp.asarray(value, dtype=input._data.dtype), input._device)
    return Where.apply(mask, value, input)


def nonzero(input, *, as_tuple=False):
    xp = input._device.xp
    idx = xp.nonzero(input._data)
    if as_tuple:
        return tuple(_make(i.astype(xp.int64), input._device) for i in idx)
    return _make(xp.stack(idx, axis=1).astype(xp.int64) if idx else xp.zeros((0, 0), dtype=xp.int64),
                 input._device)


def masked_select(input, mask):
    return getitem(input, mask)


def tril(input, diagonal=0):
    mask = input._device.xp.tri(*input._data.shape[-2:], k=diagonal, dtype=bool)
    return where(_make(mask, input._device), input, 0)


def triu(input, diagonal=0):
    mask = ~input._device.xp.tri(*input._data.shape[-2:], k=diagonal - 1, dtype=bool)
    return where(_make(mask, input._device), input, 0)
