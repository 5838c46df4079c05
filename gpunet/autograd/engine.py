"""The backward engine: an iterative walk over the graph in dependency order, and its entry points
backward() and grad() (gpunet.autograd.backward / .grad; Tensor.backward calls backward).

- Gradients arriving at a node from several consumers are summed ("first assign, then add"; in
  place only into an array nothing but the walk holds, so one passed along two edges never changes).
- A node runs once every consumer has delivered; a ready stack gives a valid topological order.
- Saved values are freed node by node unless retain_graph; a second walk then raises.
- Leaves accumulate into `.grad` (in place once it exists, as PyTorch does), after their hooks; then
  their post-accumulate-grad hooks run (DDP starts a bucket's all-reduce from one).
- queue_callback(fn) during a backward runs fn once it has finished (DDP waits for its all-reduces).
"""
import warnings
from sys import getrefcount

from gpunet._from_data import tensor
from gpunet.autograd.function import FREED_MESSAGE, AccumulateGrad, _edge, checking_backward
from gpunet.autograd.grad_mode import no_grad
from gpunet.autograd.higher_order import run_backward_graph
from gpunet.autograd.walk import after_accumulation, check_gradients, collect_dependencies
from gpunet.tensor import Tensor, _make

CYCLE_WARNING = ("Using backward() with create_graph=True will create a reference cycle between the "
                 "parameter and its gradient which can cause a memory leak. We recommend using "
                 "autograd.grad when creating the graph to avoid this. If you have to use this function, "
                 "make sure to reset the .grad fields of your parameters to None after use to break the "
                 "cycle and avoid the leak.")
_warned_cycle = [False]


def _call_hooks(hooks, grad, device):
    for hook in hooks:
        result = hook(_make(grad, device))
        if result is not None:
            grad = result._data
    return grad


def _run_node(node, grads):
    """Call a node's backward with one gradient per output; returns one gradient per input."""
    fn = node._fn
    if node._freed:
        raise RuntimeError(FREED_MESSAGE)
    if fn._raw:
        result = fn.backward(node, *grads)
    else:
        result = _run_user_backward(node, fn, grads)
    if type(result) is not tuple:
        result = (result,)
    n_inputs = len(node._next)
    if len(result) != n_inputs:
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {n_inputs}, got {len(result)})")
    meta = node.__dict__.get("_input_meta")
    if meta is not None:
        check_gradients(node, result, meta)
    return result


def _run_user_backward(node, fn, grads):
    xp = node.device.xp
    materialize = node.__dict__.get("_materialize", True)
    grad_tensors = []
    for g in grads:
        if g is None and materialize:
            g = xp.zeros(())  # a zero that broadcasts; exact shapes are unknown for unused outputs
        grad_tensors.append(None if g is None else _make(g, node.device))
    with no_grad():
        result = fn.backward(node, *grad_tensors)
    if type(result) is not tuple:
        result = (result,)
    n_inputs = len(node._input_shapes)
    if len(result) < n_inputs or any(g is not None for g in result[n_inputs:]):  # extra Nones are allowed
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {n_inputs}, got {len(result)})")
    arrays = []
    for i, (g, shape) in enumerate(zip(result, node._input_shapes)):
        if g is None:
            arrays.append(None)
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"function {node.name()} returned a gradient of type {type(g).__name__} at index "
                            f"{i}; expected a Tensor or None")
        if shape is None:
            raise RuntimeError(f"function {node.name()} returned a gradient at index {i} for an input that "
                               "is not a Tensor; return None there")
        arr = g._data
        if arr.shape != shape:
            if arr.size == 1 or _broadcastable(arr.shape, shape):
                arr = xp.broadcast_to(arr, shape) if arr.shape != shape else arr
            else:
                raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - got "
                                   f"{list(arr.shape)} but expected shape compatible with {list(shape)}")
        arrays.append(arr)
    return tuple(arrays)


def _broadcastable(src, dst):
    if len(src) > len(dst):
        return False
    return all(s == 1 or s == d for s, d in zip(src[::-1], dst[::-1]))


def _accumulate(leaf, grad, shared):
    """Add grad into leaf.grad; `shared` says grad may be referenced elsewhere (copy on first assign)."""
    extra = leaf._extra
    if extra is not None and extra.get("hooks"):
        grad = _call_hooks(extra["hooks"], grad, leaf._device)
        shared = True
    if grad.dtype != leaf._data.dtype:
        grad = grad.astype(leaf._data.dtype)
        shared = False
    if grad.shape != leaf._data.shape:
        raise RuntimeError(f"gradient of shape {list(grad.shape)} does not match the leaf tensor's shape "
                           f"{list(leaf._data.shape)}")
    if leaf.grad is None:
        if shared or grad.base is not None:
            grad = grad.copy()
        leaf.grad = _make(grad, leaf._device)
    else:
        existing = leaf.grad._data
        if existing.shape == grad.shape and existing.flags.writeable:
            leaf._device.K.add_(existing, grad)
        else:
            leaf.grad = _make(existing + grad, leaf._device)
    after_accumulation(leaf)


def _sum(prev, g, K):
    """prev + g for two gradients reaching the same input: written into prev when only the walk holds
    it, as PyTorch's engine does (an array of its own data, not a view, of the sum's dtype and shape,
    referenced by nothing but the walk's buffer: a backward's fresh result); otherwise a new array, so
    an array that also went along another edge, or that something else holds, never changes."""
    if (getrefcount(prev) == _WALK_ONLY and prev.base is None and prev.dtype == g.dtype
            and prev.shape == g.shape and getattr(prev.flags, "writeable", True)):
        return K.add_(prev, g)
    return prev + g


def _walk_only_refcount():
    # the references a buffered gradient has inside _sum when only the walk holds it (the buffer, the
    # walk's local and _sum's argument), counted here the same way, since interpreters count differently
    buffer = {0: bytearray(1)}
    prev = buffer.get(0)
    return _count_in_call(prev)


def _count_in_call(prev):
    return getrefcount(prev)


def _leaf_only_refcount():
    # the references a leaf's gradient has in the walk when nothing else holds it (the popped buffer and
    # the walk's local), counted as the walk counts them; any other holder (another edge's buffer, the
    # caller's root gradient, a saved value, a view) adds one, and the gradient is then copied, not kept.
    # Counting references, not ids: an id is reused once its array is freed, so a fresh gradient could
    # look shared (the MLP benchmark copied its 1.6 MB weight gradient in 79 of 100 steps).
    grads = {0: bytearray(1)}
    g = grads[0]
    return getrefcount(g)


_WALK_ONLY = _walk_only_refcount()
_LEAF_ONLY = _leaf_only_refcount()

_callbacks = []  # one list per walk in progress (a hook may start a nested walk)


def queue_callback(callback):
    """Run callback() once the backward walk in progress has finished, after every leaf's .grad is
    accumulated (PyTorch's Variable._execution_engine.queue_callback); only valid inside a walk."""
    if not _callbacks:
        raise RuntimeError("queue_callback can only be called during a backward pass (from a hook)")
    _callbacks[-1].append(callback)


def _with_callbacks(walk, *args):
    """walk(*args), then the callbacks queued during it (queue_callback), in order."""
    queued = []
    _callbacks.append(queued)
    try:
        result = walk(*args)
    finally:
        _callbacks.pop()
    for callback in queued:
        callback()
    return result


def run_backward(roots, root_grads, retain_graph=False, capture=None):
    """Walk the graph from roots [(node, output_nr)] with root_grads [array], then run the callbacks
    queued during the walk (queue_callback) in order."""
    return _with_callbacks(_walk, roots, root_grads, retain_graph, capture)


def _walk(roots, root_grads, retain_graph, capture):
    """The walk itself.

    capture: None to accumulate into leaves, or a dict {(node, output_nr): None} to fill with the
    total gradient reaching each key instead (autograd.grad); leaves are then left untouched.
    """
    buffers = {}
    root_nodes = []
    for (node, nr), g in zip(roots, root_grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = {}
            root_nodes.append(node)
        buf[nr] = g if buf.get(nr) is None else buf[nr] + g
    deps = collect_dependencies(root_nodes)
    ready = [n for n in root_nodes if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None)
        if isinstance(node, AccumulateGrad):
            if grads is not None and grads.get(0) is not None:
                g = grads[0]
                if capture is not None:
                    if (node, 0) in capture:
                        hooks = node.variable._extra and node.variable._extra.get("hooks")
                        capture[(node, 0)] = _call_hooks(hooks, g, node.variable._device) if hooks else g
                else:
                    shared = getrefcount(g) > _LEAF_ONLY  # its own statement: a call's pushed arguments count
                    _accumulate(node.variable, g, shared)
            continue
        out_grads = None
        if grads:
            hooks = node._hooks
            if hooks:
                for nr, fns in hooks.items():
                    if grads.get(nr) is not None:
                        grads[nr] = _call_hooks(fns, grads[nr], node.device)
            if capture is not None:
                for nr, g in grads.items():
                    if (node, nr) in capture:
                        capture[(node, nr)] = g
            n_out = node._n_outputs
            ordered = (grads.get(0),) if n_out == 1 else [grads.get(i) for i in range(n_out)]
            if node._fn._raw and not node._freed and not checking_backward[0]:  # the common case, inlined
                out_grads = node._fn.backward(node, *ordered)
                if type(out_grads) is not tuple:
                    out_grads = (out_grads,)
            else:
                out_grads = _run_node(node, ordered)
        if not retain_graph and node._saved:
            node._saved = None
            node._freed = True
        for i, nxt in enumerate(node._next):
            if nxt is None:
                continue
            nr = node._next_nr[i]
            g = out_grads[i] if out_grads is not None else None
            if g is not None:
                buf = buffers.get(nxt)
                if buf is None:
                    buffers[nxt] = {nr: g}
                else:
                    prev = buf.get(nr)
                    buf[nr] = g if prev is None else _sum(prev, g, node.device.K)
            left = deps[nxt] - 1
            deps[nxt] = left
            if left == 0:
                ready.append(nxt)
        out_grads = ordered = prev = g = None  # so a gradient's references are its holders' (_LEAF_ONLY)
    return capture


# ---- entry points ------------------------------------------------------------------------------
def _roots(tensors, grad_tensors, op, as_tensors=False):
    """The root edges and their gradients: arrays, or Tensors with as_tensors (the create_graph walk,
    where a grad_output Tensor given by the caller keeps its own graph)."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not t._requires_grad:
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs (got a "
                                   f"tensor of shape {list(t._data.shape)}); pass gradient=... of that shape")
            g_arr = t._device.xp.ones(t._data.shape, dtype=t._data.dtype)
        else:
            if not isinstance(g, Tensor):
                g = tensor(g, dtype=t.dtype, device=t._device)
            if g._data.shape != t._data.shape:
                raise RuntimeError(f"{op}: Mismatch in shape: grad_output[0] has a shape of "
                                   f"{list(g._data.shape)} and output[0] has a shape of "
                                   f"{list(t._data.shape)}.")
            if g._device is not t._device:
                raise RuntimeError(f"{op}: gradient is on {g._device} but the tensor is on {t._device}")
            if as_tensors:
                roots.append(_edge(t))
                grads.append(g if g._data.dtype == t._data.dtype else g.to(t.dtype))
                continue
            g_arr = g._data if g._data.dtype == t._data.dtype else g._data.astype(t._data.dtype)
        roots.append(_edge(t))
        grads.append(_make(g_arr, t._device) if as_tensors else g_arr)
    return roots, grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (or only into `inputs`).

    create_graph=True records the backward itself, so .grad gets a graph (higher_order.py);
    retain_graph defaults to create_graph, as in PyTorch."""
    if grad_tensors is None:
        grad_tensors = grad_variables
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph and not _warned_cycle[0]:  # once per process, as PyTorch's
        _warned_cycle[0] = True
        warnings.warn(CYCLE_WARNING, UserWarning, stacklevel=2)
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        _with_callbacks(_backward_into, tensors, inputs, grad_tensors, retain_graph, create_graph)
        return
    roots, grads = _roots(tensors, grad_tensors, "backward", create_graph)
    if create_graph:
        _with_callbacks(run_backward_graph, roots, grads, retain_graph)
    else:
        run_backward(roots, grads, bool(retain_graph))


def _backward_into(tensors, inputs, grad_tensors, retain_graph, create_graph):
    """backward(inputs=...): the gradients of `inputs` only, accumulated into their .grad."""
    found = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, create_graph=create_graph,
                 allow_unused=True)
    for t, g in zip(inputs, found):
        if g is not None:
            t._grad = g if t._grad is None else t._grad + g
            if t.grad_fn is None:
                after_accumulation(t)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any .grad; with create_graph=True the results have a
    graph of their own (retain_graph then defaults to True)."""
    if retain_graph is None:
        retain_graph = create_graph
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots, grads = _roots(outputs, grad_outputs, "grad", create_graph)
    keys = [_edge(t) for t in inputs]
    walk = run_backward_graph if create_graph else run_backward
    capture = walk(roots, grads, bool(retain_graph), capture={k: None for k in keys})
    result = []
    for t, k in zip(inputs, keys):
        g = capture.get(k)
        if g is None:
            if materialize_grads:
                g = t._device.xp.zeros(t._data.shape, dtype=t._data.dtype)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
        if g is None or isinstance(g, Tensor):  # create_graph: the Tensor with its graph
            result.append(g)
        else:
            result.append(_make(g if g.base is None else g.copy(), t._device))
    return tuple(result)
