"""The create_graph walk: backward run as differentiable Tensor operations, so gradients have a graph.

backward(create_graph=True) and grad(create_graph=True) come here instead of engine.run_backward.
The walk is the same (dependency counts, a ready stack, "first assign, then add"), but every
gradient is a Tensor and each node's backward is recorded like any forward op:

- a gpunet Op runs its `backward_graph(ctx, *grad_outputs)`: Tensors in, Tensors out, written with
  gpunet's differentiable ops. An Op without one raises `refusal(op)` rather than give a gradient
  without a graph (which would make second derivatives silently zero).
- a user Function's backward is Tensor code already: it runs with grad mode on (as PyTorch does).

Inside backward_graph, `saved(ctx)` gives the values forward saved as Tensors: an input's or
output's array comes back as that Tensor (so the graph reaches it), anything else as a constant.
"""
from gpunet.autograd.function import FREED_MESSAGE, AccumulateGrad, Op
from gpunet.autograd.grad_mode import enable_grad
from gpunet.autograd.walk import after_accumulation, check_gradients, collect_dependencies
from gpunet.tensor import Tensor, _make


def graph_backward_of(op):
    """op's backward_graph, or None: one inherited from a parent counts only if op does not define its
    own backward (a subclass with another backward needs its own backward_graph)."""
    for cls in op.__mro__:
        if "backward_graph" in cls.__dict__:
            return cls.__dict__["backward_graph"].__func__
        if "backward" in cls.__dict__:
            return None
    return None


def supported_ops():
    """The grad_fn names of the Ops that have a differentiable backward (for the refusal message)."""
    names, stack = set(), list(Op.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if graph_backward_of(cls) is not None:
            names.add(cls._node_cls.__name__)
    return sorted(names)


def refusal(node, why=""):
    """The error for a node whose backward gpunet cannot yet run as differentiable operations."""
    fn = node._fn
    return NotImplementedError(f"create_graph=True: {node.name()} ({fn.__module__}.{fn.__name__}) has no "
                               f"differentiable backward in gpunet yet{why}; supported: "
                               f"{', '.join(supported_ops())}")


def saved(ctx):
    """ctx's saved values as Tensors: the input or output Tensor holding a saved array (it carries the
    graph), a constant Tensor for any other array, and non-arrays (None, numbers) unchanged."""
    values = ctx.saved_tensors  # checks versions and the freed state
    versions = ctx._versions or ()
    sources = {versions[k + 2]: (versions[k], versions[k + 3]) for k in range(0, len(versions), 4)}
    out = []
    for j, s in enumerate(values):
        if s is None or type(s) in (int, float, bool) or isinstance(s, Tensor):
            out.append(s)
        elif j in sources:
            out.append(_holder(ctx, s, *sources[j]))
        else:
            out.append(const(ctx, s))
    return tuple(out)


def _holder(ctx, array, counter, source):
    """The Tensor that held a saved array, rebuilt from the graph (the node keeps no Tensor): a leaf
    input is the leaf itself; another input, or an output, a new Tensor on the same node, output index
    and version counter, so that a graph built on it reaches the same place."""
    if source >= 0:
        node, nr = ctx._next[source], ctx._next_nr[source]
        if node is None:  # the input took no part in the graph
            return const(ctx, array)
        if type(node) is AccumulateGrad:
            return node.variable
    elif array.dtype.kind == "f":
        node, nr = ctx, -1 - source
    else:  # an integer output (indices) has no history
        return const(ctx, array)
    t = _make(array, ctx.device, True, node, nr)
    t._vc = counter
    return t


def const(ctx, array, dtype=None):
    """A Tensor of an array (a mask, a derivative) that takes no part in the graph."""
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return _make(array, ctx.device)


def _run_node(node, grads):
    if node._freed:
        raise RuntimeError(FREED_MESSAGE)
    fn = node._fn
    if fn._raw:
        backward_graph = graph_backward_of(fn)
        if backward_graph is None:  # an Op may say why in _no_graph_why
            raise refusal(node, getattr(fn, "_no_graph_why", ""))
        result = backward_graph(node, *grads)
        n_inputs = len(node._next)
    else:
        result = _run_user_backward(node, fn, grads)
        n_inputs = len(node._input_shapes)
    if type(result) is not tuple:
        result = (result,)
    if len(result) < n_inputs or any(g is not None for g in result[n_inputs:]):
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {n_inputs}, got {len(result)})")
    meta = node.__dict__.get("_input_meta")
    if meta is not None:
        check_gradients(node, [None if g is None else g._data for g in result], meta)
    return result[:n_inputs]


def _run_user_backward(node, fn, grads):
    materialize = node.__dict__.get("_materialize", True)
    grads = [_make(node.device.xp.zeros(()), node.device) if g is None and materialize else g for g in grads]
    result = fn.backward(node, *grads)
    if type(result) is not tuple:
        result = (result,)
    out = []
    for i, g in enumerate(result):
        shape = node._input_shapes[i] if i < len(node._input_shapes) else None
        if g is None or shape is None:
            out.append(g)
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"function {node.name()} returned a gradient of type {type(g).__name__} at index "
                            f"{i}; expected a Tensor or None")
        out.append(g if g._data.shape == shape else g.expand(shape))
    return tuple(out)


def _call_hooks(hooks, grad):
    for hook in hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def _accumulate(leaf, grad):
    """leaf.grad = grad, or leaf.grad + grad: out of place, keeping the graph of both."""
    extra = leaf._extra
    if extra is not None and extra.get("hooks"):
        grad = _call_hooks(extra["hooks"], grad)
    if grad._data.dtype != leaf._data.dtype:
        grad = grad.to(leaf.dtype)
    if grad._data.shape != leaf._data.shape:
        raise RuntimeError(f"gradient of shape {list(grad._data.shape)} does not match the leaf tensor's "
                           f"shape {list(leaf._data.shape)}")
    leaf._grad = grad if leaf._grad is None else leaf._grad + grad
    after_accumulation(leaf)


def run_backward_graph(roots, root_grads, retain_graph, capture=None):
    """As engine.run_backward, with root_grads and every gradient Tensors recorded in the graph."""
    buffers, root_nodes = {}, []
    for (node, nr), g in zip(roots, root_grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = {}
            root_nodes.append(node)
        buf[nr] = g if buf.get(nr) is None else buf[nr] + g
    deps = collect_dependencies(root_nodes)
    ready = [n for n in root_nodes if deps.get(n, 0) == 0]
    with enable_grad():
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if isinstance(node, AccumulateGrad):
                if grads is not None and grads.get(0) is not None:
                    _deliver_to_leaf(node, grads[0], capture)
                continue
            out_grads = None
            if grads:
                if node._hooks:
                    for nr, fns in node._hooks.items():
                        if grads.get(nr) is not None:
                            grads[nr] = _call_hooks(fns, grads[nr])
                if capture is not None:
                    for nr, g in grads.items():
                        if (node, nr) in capture:
                            capture[(node, nr)] = g
                out_grads = _run_node(node, [grads.get(i) for i in range(node._n_outputs)])
            if not retain_graph and node._saved:
                node._saved = None
                node._freed = True
            for i, nxt in enumerate(node._next):
                if nxt is None:
                    continue
                nr = node._next_nr[i]
                g = out_grads[i] if out_grads is not None else None
                if g is not None:
                    buf = buffers.setdefault(nxt, {})
                    buf[nr] = g if buf.get(nr) is None else buf[nr] + g
                deps[nxt] -= 1
                if deps[nxt] == 0:
                    ready.append(nxt)
    return capture


def _deliver_to_leaf(node, g, capture):
    leaf = node.variable
    if capture is None:
        _accumulate(leaf, g)
    elif (node, 0) in capture:
        hooks = leaf._extra and leaf._extra.get("hooks")
        capture[(node, 0)] = _call_hooks(hooks, g) if hooks else g
