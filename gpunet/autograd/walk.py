"""What both backward walks share (engine.run_backward and higher_order.run_backward_graph): counting
each node's consumers, the hooks that run after a leaf's .grad is accumulated, and checking an Op's
gradients against its inputs."""
from gpunet.backend import array_device


def collect_dependencies(roots):
    """{node: how many edges reach it} over the graph below roots (the roots themselves included, at 0
    where no edge reaches them)."""
    deps = {node: 0 for node in roots}  # a node is walked when first counted; a root is walked already
    stack = list(roots)
    count_of = deps.get
    while stack:
        node = stack.pop()
        for nxt in node._next:
            if nxt is not None:
                count = count_of(nxt)
                if count is None:
                    deps[nxt] = 1
                    stack.append(nxt)
                else:
                    deps[nxt] = count + 1
    return deps


def after_accumulation(leaf):
    """Run the leaf's post-accumulate-grad hooks (Tensor.register_post_accumulate_grad_hook), in order."""
    extra = leaf._extra
    hooks = extra.get("post_accumulate_hooks") if extra is not None else None
    if hooks:
        for hook in tuple(hooks):  # a hook may remove itself
            hook(leaf)


def check_gradients(node, grads, meta):
    """Each gradient an Op's backward returned for an input that needs one has that input's shape, dtype
    and device (checked when gpunet.autograd.function.checking_backward is on, as in the tests)."""
    for i, (g, m) in enumerate(zip(grads, meta)):
        if g is None or m is None:
            continue
        shape, dtype = m
        problem = None
        if array_device(g) is not node.device:
            problem = f"on {array_device(g)}, not on the input's device {node.device}"
        elif g.shape != shape:
            problem = f"of shape {list(g.shape)} for an input of shape {list(shape)}"
        elif g.dtype != dtype:
            problem = f"of dtype {g.dtype} for an input of dtype {dtype}"
        if problem:
            raise RuntimeError(f"{node.name()} ({node._fn.__module__}.{node._fn.__name__}.backward) returned "
                               f"a gradient {problem} at index {i}")
