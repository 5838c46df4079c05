"""Indexing ops: getitem/setitem, gather/scatter, index_select, where/masked_fill, nonzero, tril/triu."""
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.autograd.grad_mode import _enabled
from gpunet.autograd.higher_order import const
from gpunet.backend import CPU
from gpunet.ops._util import _view_of, promote, unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.inplace import check_inplace, commit_inplace
from gpunet.tensor import Tensor, _dim, _make


def _convert_index(index, device):
    """Tensors inside an index become arrays; returns (index, is_advanced)."""
    if not isinstance(index, tuple):
        index = (index,)
    out, advanced = [], False
    for i in index:
        if isinstance(i, Tensor):
            if i._device is not device and i._device is not CPU:
                raise RuntimeError("indices should be either on cpu or on the same device as the indexed "
                                   f"tensor ({device}), got {i._device}")
            if i._data.dtype.kind not in "biu":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors, "
                                 f"got {i.dtype}")
            # a cpu index into a cuda tensor is copied to the device, as in PyTorch
            out.append(i._data if i._device is device else device.backend.from_host(i._data))
            advanced = True
        elif isinstance(i, (list, range)) or hasattr(i, "__array__") and not isinstance(i, (int, slice)):
            out.append(device.xp.asarray(i))
            advanced = True
        elif i is None or i is Ellipsis or isinstance(i, (int, slice)) or type(i).__name__ == "bool":
            out.append(i)
        elif hasattr(i, "__index__"):
            out.append(int(i))
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte tensors "
                             f"are valid indices (got {type(i).__name__})")
    return tuple(out), advanced


class Index(Op):
    _backward_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, a, index, advanced):
        ctx.shape, ctx.index, ctx.advanced = a.shape, index, advanced
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return _scatter_into_zeros(ctx, g, ctx.shape, ctx.index, ctx.advanced), None, None

    @staticmethod
    def backward_graph(ctx, g):
        return IndexBackward.apply(g, ctx.shape, ctx.index, ctx.advanced), None, None


class IndexBackward(Op):
    """Index's backward as an Op (the create_graph walk): g placed (summed, for repeated advanced indices)
    into zeros of the input's shape. Its own backward indexes again, so the pair differentiates forever."""
    _backward_name = "IndexBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, index, advanced):
        ctx.index, ctx.advanced = index, advanced
        return _scatter_into_zeros(ctx, g, shape, index, advanced)

    @staticmethod
    def backward(ctx, gg):
        return gg[ctx.index], None, None, None

    @staticmethod
    def backward_graph(ctx, gg):
        return Index.apply(gg, ctx.index, ctx.advanced), None, None, None


def _scatter_into_zeros(ctx, g, shape, index, advanced):
    """g placed at index in zeros of shape; repeated advanced indices sum."""
    out = ctx.device.xp.zeros(shape, dtype=g.dtype)
    if advanced:
        ctx.device.backend.scatter_add(out, index, g)
    else:
        out[index] = g
    return out


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
    if type(index) is int:  # x[i] (a Dataset's sample, a loop's row): no conversion needed, 1.74 -> 1.3 us
        idx, advanced = (index,), False
    else:
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

    @staticmethod
    def backward_graph(ctx, g):
        ga = gv = None
        if ctx.needs_input_grad[0]:  # the overwritten places get nothing: g times a constant 0/1 mask
            keep = ctx.device.xp.ones(g._data.shape, dtype=g._data.dtype)
            _put(keep, ctx.index, 0)
            ga = g * const(ctx, keep)
        if ctx.needs_input_grad[2]:
            gv = unbroadcast_t(_index_t(g, ctx.index, ctx.advanced), ctx.value_shape)
        return ga, None, gv, None


def _index_t(g, index, advanced):
    """g[index] as a differentiable Index (an index from _convert_index, or a _Chained pair)."""
    if type(index) is _Chained:
        return Index.apply(_index_t(g, index[0], False), index[1], True)
    if not advanced and Ellipsis not in index:
        index = index + (Ellipsis,)  # a 0-d array, not a NumPy scalar, for x[i] of a vector
    return Index.apply(g, index, advanced)


def setitem(input, index, value):
    """input[index] = value, in place; recorded by autograd when input or value requires grad."""
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
        return ctx.device.K.take_along_axis(a, dim, index)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = ctx.device.xp.zeros(ctx.shape, dtype=g.dtype)
        ctx.device.K.add_along_axis(out, ctx.dim, index, g)
        return out, None, None

    @staticmethod
    def backward_graph(ctx, g):
        (index,) = ctx.saved_tensors  # a scatter-add, as an Op whose own backward is a gather
        return IndexBackward.apply(g, ctx.shape, _full_index(ctx.device.xp, index, ctx.dim), True), None, None


def _full_index(xp, index, dim):
    """Index arrays addressing a[..., index, ...] elementwise along dim (for scatter/gather)."""
    grids = list(xp.ogrid[tuple(slice(0, s) for s in index.shape)]) if index.ndim else []
    grids[dim] = index
    return tuple(grids)


def _check_index_device(input, index, op):
    """The index goes to the kernel as a raw array, past Function.apply's device check: check it here."""
    if index._device is not input._device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{input._device} and {index._device}! (when checking argument index in {op})")


def _check_index(input, index, dim, op):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got "
                           f"{index.dtype if isinstance(index, Tensor) else type(index).__name__}")
    _check_index_device(input, index, op)
    if index._data.ndim != input._data.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index shape {list(index._data.shape)}, input shape {list(input._data.shape)})")
    return _dim(dim, input._data.ndim, op)


def _check_range(input, index, n, op, error):
    # indices count from the end when negative: [-n, n) is in range
    input._device.backend.device_assert((op, "index", n), (index >= n) | (index < -n), index, error)


def _scalar_case(input, index):
    """A 0-d input with a 0-d index: PyTorch treats both as one-element vectors."""
    return input._data.ndim == 0 and isinstance(index, Tensor) and index._data.ndim == 0


def gather(input, dim, index):
    if _scalar_case(input, index):
        return gather(input.reshape(1), dim, index.reshape(1)).reshape(())
    d = _check_index(input, index, dim, "gather")
    for k, (si, sa) in enumerate(zip(index._data.shape, input._data.shape)):
        if k != d and si > sa:
            raise RuntimeError(f"gather(): Size does not match at dimension {k} expected index "
                               f"{list(index._data.shape)} to be smaller than self {list(input._data.shape)} "
                               f"apart from dimension {d}")
    n = input._data.shape[d]
    _check_range(input, index._data, n, "gather", lambda v: RuntimeError(
        f"gather(): index out of bounds for dimension {d} with size {n} (index {v})"))
    a = input
    if any(k != d and si != sa for k, (si, sa) in enumerate(zip(index._data.shape, input._data.shape))):
        # the corner the index covers (a whole-tensor view would cost its backward a copy of the gradient)
        sl = tuple(slice(0, s) if k != d else slice(None) for k, s in enumerate(index._data.shape))
        a = getitem(input, sl)
    return Gather.apply(a, d, index._data)


class Scatter(Op):
    _backward_name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, a, dim, index, src, reduce_add):
        xp = ctx.device.xp
        out = a.copy()
        values = src if hasattr(src, "shape") and src.shape == index.shape else (
            xp.broadcast_to(src, index.shape) if not hasattr(src, "shape")
            else src[tuple(slice(0, s) for s in index.shape)])
        if reduce_add:
            ctx.device.K.add_along_axis(out, dim, index, values)
            ctx.full = None
        else:
            ctx.full = _full_index(xp, index, dim)
            out[ctx.full] = values
        ctx.dim, ctx.index, ctx.reduce_add = dim, index, reduce_add
        ctx.src_shape = getattr(src, "shape", None)
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.reduce_add else g.copy()
            if not ctx.reduce_add:
                ga[ctx.full] = 0
        if ctx.needs_input_grad[3]:
            index = ctx.index  # g at the index, from the corner of g the index covers off the axis
            corner = tuple(slice(None) if k == ctx.dim else slice(0, s) for k, s in enumerate(index.shape))
            gs = ctx.device.K.take_along_axis(g[corner], ctx.dim, index)
            if gs.shape != ctx.src_shape:  # src larger than the index: its other places get nothing
                padded = ctx.device.xp.zeros(ctx.src_shape, dtype=g.dtype)
                padded[tuple(slice(0, s) for s in index.shape)] = gs
                gs = padded
        return ga, None, None, gs, None

    @staticmethod
    def backward_graph(ctx, g):
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g
            if not ctx.reduce_add:  # the overwritten places get nothing
                keep = ctx.device.xp.ones(g._data.shape, dtype=g._data.dtype)
                keep[ctx.full] = 0
                ga = g * const(ctx, keep)
        if ctx.needs_input_grad[3]:  # g gathered at the index, placed in the corner of src it came from
            full = ctx.full if ctx.full is not None else _full_index(ctx.device.xp, ctx.index, ctx.dim)
            gs = Index.apply(g, full, True)
            if tuple(ctx.src_shape) != tuple(ctx.index.shape):
                corner = tuple(slice(0, s) for s in ctx.index.shape)
                gs = IndexBackward.apply(gs, ctx.src_shape, corner, False)
        return ga, None, None, gs, None


def scatter(input, dim, index, src=None, value=None, reduce=None):
    if _scalar_case(input, index):
        src = value if src is None else src
        src = src.reshape(1) if isinstance(src, Tensor) else src
        return scatter(input.reshape(1), dim, index.reshape(1), src, reduce=reduce).reshape(())
    d = _check_index(input, index, dim, "scatter")
    if src is None:
        src = value
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported; use scatter_add")
    if isinstance(src, Tensor) and src._data.dtype != input._data.dtype:
        src = src.to(input.dtype)
    return Scatter.apply(input, d, index._data, src, reduce == "add")


def scatter_add(input, dim, index, src):
    if _scalar_case(input, index):
        return scatter_add(input.reshape(1), dim, index.reshape(1), src.reshape(1)).reshape(())
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

    @staticmethod
    def backward_graph(ctx, g):
        (index,) = ctx.saved_tensors  # a scatter-add along dim, whose own backward selects again
        idx = (slice(None),) * ctx.dim + (index,)
        return IndexBackward.apply(g, ctx.shape, idx, True), None, None


def index_select(input, dim, index):
    if not isinstance(index, Tensor) or index._data.ndim > 1 or index._data.dtype.kind not in "iu":
        raise IndexError("index_select(): Index is supposed to be a vector of integer indices")
    _check_index_device(input, index, "index_select")
    d = _dim(dim, input._data.ndim, "index_select")
    n = input._data.shape[d] if input._data.ndim else 1
    _check_range(input, index._data, n, "index_select", lambda v: IndexError(
        f"index_select(): index {v} out of range in self (dimension {d} has size {n})"))
    return IndexSelect.apply(input, d, index._data.reshape(-1))


class Where(Op):
    _backward_name = "WhereBackward0"

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        return ctx.device.K.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        ga = unbroadcast(g * cond, ctx.shapes[0]) if na else None
        gb = unbroadcast(g * ~cond, ctx.shapes[1]) if nb else None
        return None, ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        ga = unbroadcast_t(g * const(ctx, cond, g._data.dtype), ctx.shapes[0]) if na else None
        gb = unbroadcast_t(g * const(ctx, ~cond, g._data.dtype), ctx.shapes[1]) if nb else None
        return None, ga, gb


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):  # where(cond, 1.0, 0.0)
        input = _make(condition._device.xp.asarray(input, dtype=_dt.result_type(input, other).np),
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
