"""Graph nodes and `Function`: the one mechanism behind gpunet's own ops and user-defined ops.

A call `F.apply(*args)` creates a context node (`ctx`), runs `F.forward(ctx, ...)`, and, when any
input requires grad and grad mode is on, records the node as the outputs' `grad_fn` with one edge
per input: `(next_node, output_nr)` or None.

gpunet's ops subclass `Op`: their forward/backward take and return raw arrays (numpy or cupy),
which keeps the per-op cost low. User `Function`s take and return Tensors, as in PyTorch. Both
record through one function, `_record` (edges, outputs, versions of saved values); each apply only
scans its inputs its own way and runs forward.
"""
from itertools import product

from gpunet.autograd.grad_mode import _enabled, no_grad
from gpunet.tensor import Tensor, _make

# When on (the test suite turns it on), every recorded Op keeps its inputs' shapes and dtypes, and the
# engine checks each gradient its backward returns against them, so a wrong backward fails at its op.
# Off by default: it costs a list per recorded op.
checking_backward = [False]

# Every recorded op keeps a needs_input_grad tuple and an output-index tuple; the common ones are shared
# instead of kept per op. A long graph then allocates fewer objects, so Python's cyclic collector runs
# less often (CPython 3.11-3.13: a full one at most every 70,000 net allocations) and rescans less.
# Two tables: (True,) == (1,), so one table would hand an output-index lookup a tuple of bools.
_SHARED_NEEDS = {t: t for n in range(1, 5) for t in product((True, False), repeat=n)}
_SHARED_NRS = {(0,) * n: (0,) * n for n in range(1, 9)}
_NEEDS_BOTH, _NEEDS_FIRST, _NEEDS_SECOND = (_SHARED_NEEDS[(True, True)], _SHARED_NEEDS[(True, False)],
                                           _SHARED_NEEDS[(False, True)])
_NRS_ZERO_PAIR = _SHARED_NRS[(0, 0)]

FREED_MESSAGE = ("Trying to backward through the graph a second time (or directly access saved tensors "
                 "after they have already been freed). Saved intermediate values of the graph are freed when "
                 "you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
                 "through the graph a second time or if you need to access saved tensors after calling "
                 "backward.")


class Node:
    """A node of the backward graph (a tensor's `grad_fn`)."""

    # The graph is held in tuples, which Python's cyclic collector scans but never promotes when they hold
    # only numbers: _next (the node behind each input, or None) and _next_nr (that node's output index).
    # Lists or (node, nr) pairs would add survivors per op that every full collection rescans.
    __slots__ = ("_next", "_next_nr", "needs_input_grad", "_saved", "_versions", "_hooks", "_freed",
                 "device", "__dict__", "__weakref__")

    @property
    def next_functions(self):
        """One (node, output index) per input, None where no gradient flows to it."""
        return tuple(None if n is None else (n, nr) for n, nr in zip(self._next, self._next_nr))

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def register_hook(self, fn):
        raise NotImplementedError(f"{self.name()}.register_hook: use Tensor.register_hook instead")


class AccumulateGrad(Node):
    """The sink of a leaf tensor that requires grad: adds the incoming gradient into `.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable
        self._next = self._next_nr = ()
        self._freed = False
        self._hooks = None


class FunctionCtx(Node):
    """The `ctx` passed to forward/backward; also the recorded graph node."""

    # `shapes`, which the broadcasting binary ops set on every call, is a slot: as an attribute of the
    # instance dict it cost creating that dict, ~15% of an `a + b` on small tensors
    __slots__ = ("shapes",)
    _fn = None
    _n_outputs = 1  # multi-output ops set their own count

    def save_for_backward(self, *values):
        self._saved = values

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        versions = self._versions
        if versions:
            for k in range(0, len(versions), 4):
                counter, version, j = versions[k:k + 3]
                if counter[0] != version:
                    value = self._saved[j]  # an array (Op) or a Tensor (Function); both have these
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified by an "
                        f"inplace operation: [{value.dtype.name} tensor of shape {list(value.shape)}], "
                        f"saved for {self.name()}, is at version {counter[0]}; expected version {version} "
                        "instead.")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self.__dict__.setdefault("_non_differentiable", set()).update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        for t in tensors:
            t._vc[0] += 1

    def set_materialize_grads(self, value):
        self.__dict__["_materialize"] = bool(value)


class Function:
    """Base class of differentiable operations (`torch.autograd.Function`).

    Subclasses define `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` as staticmethods and are
    used through `apply`. `backward` returns one gradient (or None) per forward argument.
    """

    _raw = False  # Op sets this: forward/backward on raw arrays

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("_backward_name") or f"{cls.__name__}Backward"
        cls._node_cls = type(name, (FunctionCtx,), {"__slots__": (), "_fn": cls})

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on Tensors (with grad mode off inside) and record the call through `_record`."""
        ctx = cls._node_cls()
        ctx._saved = ()
        ctx._versions = None
        ctx._hooks = None
        ctx._freed = False
        grad_on = _enabled[0]
        needs, nexts, nrs, shapes = [], [], [], []
        requires = False
        device = None
        for a in args:
            if isinstance(a, Tensor):
                device = _check_device(cls, device, a)
                if grad_on and a._requires_grad:
                    requires = True
                    needs.append(True)
                    fn = a.grad_fn
                    nexts.append(fn if fn is not None else _accumulator(a))
                    nrs.append(a._out_nr if fn is not None else 0)
                else:
                    needs.append(False)
                    nexts.append(None)
                    nrs.append(0)
                shapes.append(a._data.shape)
            else:
                needs.append(False)
                nexts.append(None)
                nrs.append(0)
                shapes.append(None)
        needs = tuple(needs)
        ctx.needs_input_grad = _SHARED_NEEDS.get(needs, needs)
        ctx.device = device
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        recorded = None
        if requires:
            ctx._input_shapes = tuple(shapes)
            non_diff = ctx.__dict__.get("_non_differentiable", ())
            # values that are not Tensors, and outputs marked non-differentiable, take no part
            arrays = tuple(o._data if isinstance(o, Tensor) and id(o) not in non_diff else None for o in outs)
            nrs = tuple(nrs)
            recorded = _record(ctx, tuple(nexts), _SHARED_NRS.get(nrs, nrs), args, arrays, device)
        results = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                continue
            t = recorded[i] if recorded is not None else None
            if t is None:
                t = _make(o._data, o._device, False, None, i)
            t._device = o._device
            t._vc = o._vc  # an output aliasing an input shares its version counter
            results.append(t)
        return results[0] if single else tuple(results)


class Op(Function):
    """gpunet's own ops: forward(ctx, *arrays_or_constants) -> array(s); backward(ctx, *grads) -> arrays."""

    _raw = True

    @classmethod
    def apply(cls, *args):
        """Run forward on the inputs' arrays and, when a gradient can flow, record it through `_record`."""
        raw = []
        requires = False
        device = None
        for a in args:
            if isinstance(a, Tensor):
                d = a._device
                if device is None:
                    device = d
                elif d is not device:
                    _device_error(cls, device, d)
                raw.append(a._data)
                if a._requires_grad:
                    requires = True
            else:
                raw.append(a)
        ctx = cls._node_cls()
        ctx.device = device
        ctx._saved = ()
        if requires and _enabled[0]:
            needs = []
            nexts = []
            nrs = []
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    needs.append(True)
                    fn = a.grad_fn
                    nexts.append(fn if fn is not None else _accumulator(a))
                    nrs.append(a._out_nr if fn is not None else 0)
                else:
                    needs.append(False)
                    nexts.append(None)
                    nrs.append(0)
            needs = tuple(needs)
            ctx.needs_input_grad = _SHARED_NEEDS.get(needs, needs)
            if checking_backward[0]:
                ctx._input_meta = [(a._data.shape, a._data.dtype) if n else None for a, n in zip(args, needs)]
            nrs = tuple(nrs)
            return _record(ctx, tuple(nexts), _SHARED_NRS.get(nrs, nrs), args, cls.forward(ctx, *raw), device)
        ctx.needs_input_grad = (False,) * len(args)
        out = cls.forward(ctx, *raw)
        if type(out) is tuple:
            return tuple(_make(o, device) for o in out)
        return _make(out, device)

    @classmethod
    def apply_pair(cls, a, b):
        """apply(a, b) for two Tensors (the binary operators' common call, see gpunet/ops/methods.py): the
        same recording without apply's loops over its arguments (a chain of adds and its backward: 5.3 ->
        4.7-4.8 us per op)."""
        device = a._device
        if b._device is not device:
            _device_error(cls, device, b._device)
        ctx = cls._node_cls()
        ctx.device = device
        ctx._saved = ()
        need_a, need_b = a._requires_grad, b._requires_grad
        if (need_a or need_b) and _enabled[0]:
            # each input's edge as in apply, written out (this is the per-op cost: a tuple built and unpacked,
            # or a lookup in the shared tables, costs more than these branches)
            next_a = next_b = None
            nr_a = nr_b = 0
            if need_a:
                next_a = a.grad_fn
                if next_a is None:
                    next_a = _accumulator(a)
                else:
                    nr_a = a._out_nr
            if need_b:
                next_b = b.grad_fn
                if next_b is None:
                    next_b = _accumulator(b)
                else:
                    nr_b = b._out_nr
            ctx.needs_input_grad = (_NEEDS_BOTH if need_b else _NEEDS_FIRST) if need_a else _NEEDS_SECOND
            if checking_backward[0]:
                ctx._input_meta = [(t._data.shape, t._data.dtype) if n else None
                                   for t, n in ((a, need_a), (b, need_b))]
            out = cls.forward(ctx, a._data, b._data)
            nrs = (nr_a, nr_b) if nr_a or nr_b else _NRS_ZERO_PAIR
            return _record(ctx, (next_a, next_b), nrs, (a, b), out, device)
        ctx.needs_input_grad = (False, False)
        return _make(cls.forward(ctx, a._data, b._data), device)


def _record(ctx, nexts, nrs, args, out, device):
    """Record one call in the graph: the one recording path, taken by Op.apply and Function.apply.

    nexts, nrs: one per argument, the node behind it (grad_fn or AccumulateGrad) and its output index,
    or None and 0 where no gradient flows; args: the call's arguments; out: the output array, or a
    tuple of arrays (None where an output takes no part).
    ctx becomes the grad_fn of the outputs, returned as Tensors; in a tuple, an output that is not
    floating point (indices) gets no history. Each value forward saved is tied to the version of
    the Tensor holding it (a saved Tensor itself, or the input or output Tensor whose array it is),
    so an in-place change to that Tensor before backward raises.
    """
    ctx._next = nexts
    ctx._next_nr = nrs
    ctx._hooks = None
    ctx._freed = False
    if type(out) is tuple:
        ctx._n_outputs = len(out)
        results = tuple(None if o is None else _make(o, device, o.dtype.kind == "f",
                                                     ctx if o.dtype.kind == "f" else None, i)
                        for i, o in enumerate(out))
    else:
        results = _make(out, device, True, ctx, 0)
    saved = ctx._saved
    if not saved:
        ctx._versions = None
        return results
    outs = results if type(results) is tuple else (results,)
    # Flat (counter, version, saved index, source) quadruples, source being the input's position, -1 - k
    # for output k, or None for a saved Tensor. No Tensor is kept (higher_order.saved rebuilds a holder
    # from its source): a long graph then holds fewer objects for Python's cyclic collector to rescan.
    versions = []  # inline, not a helper: this runs for most ops (the per-op cost)
    for j, s in enumerate(saved):
        for i, t in enumerate(args):  # an Op's saved array is most often an input's
            if isinstance(t, Tensor) and t._data is s:
                versions += (t._vc, t._vc[0], j, i)
                break
        else:
            for k, t in enumerate(outs):
                if t is not None and t._data is s:
                    versions += (t._vc, t._vc[0], j, -1 - k)
                    break
            else:
                if isinstance(s, Tensor):  # a Function saves Tensors
                    versions += (s._vc, s._vc[0], j, None)
                elif s is out and type(out) is not tuple:  # a NumPy scalar output, held as a 0-d array
                    versions += (results._vc, results._vc[0], j, -1)
                    ctx._saved = tuple(results._data if v is s else v for v in ctx._saved)
    ctx._versions = tuple(versions)
    return results


def _edge(tensor):
    """The graph edge a tensor contributes: (its grad_fn, or the AccumulateGrad of a leaf; output index)."""
    fn = tensor.grad_fn
    return (fn, tensor._out_nr) if fn is not None else (_accumulator(tensor), 0)


def _accumulator(tensor):
    """The AccumulateGrad of a leaf tensor, made once."""
    extra = tensor._extra
    if extra is None:
        extra = tensor._extra = {}
    acc = extra.get("accumulate")
    if acc is None:
        acc = extra["accumulate"] = AccumulateGrad(tensor)
    return acc


def _device_error(op, d1, d2):
    name = getattr(op, "_op_name", op.__name__.lower())
    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                       f"{d1} and {d2}! (in op {name})")


def _check_device(op, device, tensor):
    d = tensor._device
    if device is not None and d is not device:
        _device_error(op, device, d)
    return d


def once_differentiable(fn):
    """As torch.autograd.function.once_differentiable: backward runs under no_grad; when it ran inside a
    create_graph walk with inputs that require grad, its gradients carry a node that raises if a further
    backward reaches it (instead of silently giving zero second derivatives)."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            result = fn(ctx, *args)
        needing = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        if not _enabled[0] or not needing:
            return result
        single = not isinstance(result, tuple)
        wrapped = tuple(_OnceDifferentiable.apply(r, *needing)
                        if isinstance(r, Tensor) and r.is_floating_point() else r
                        for r in ((result,) if single else result))
        return wrapped[0] if single else wrapped
    return wrapper


class _OnceDifferentiable(Function):
    """The value x unchanged, tied to the tensors it came from; differentiating it again raises, as
    PyTorch's DelayedError."""

    @staticmethod
    def forward(ctx, x, *sources):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")
