"""torch.autograd.functional: vjp, jacobian, hessian, hvp and vhp, built on grad (loops, not vmap).

As in PyTorch, the inputs are taken as they are (a single Tensor or a tuple), the results follow the
same nesting (a Tensor for a Tensor, tuples for tuples), and they come back detached unless
create_graph=True. An input that the output does not depend on gets zeros (strict=False).
Built on ops (stack), this module sits above them: `import gpunet` imports it.
"""
from gpunet.autograd.engine import grad
from gpunet.autograd.grad_mode import enable_grad
from gpunet.ops.shape import stack
from gpunet.tensor import Tensor


def _as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _prepare(inputs, create_graph):
    """Inputs that require grad: the same graph position under create_graph (a view), else detached."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(True))
    return tuple(out)


def _grads(outputs, inputs, grad_outputs, create_graph):
    """d(outputs)/d(inputs) contracted with grad_outputs; zeros for inputs the outputs do not reach."""
    diff = [o for o in outputs if o.requires_grad]
    seeds = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not diff:
        found = (None,) * len(inputs)
    else:
        found = grad(diff, inputs, seeds, retain_graph=True, create_graph=create_graph, allow_unused=True)
    return tuple(inp.new_zeros(inp.shape) if g is None else g for inp, g in zip(inputs, found))


def _finish(values, create_graph):
    return tuple(v if create_graph else v.detach() for v in values)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product."""
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _prepare(_as_tuple(inputs), create_graph)
        outputs = func(*inputs)
        single_out = isinstance(outputs, Tensor)
        outputs = _as_tuple(outputs)
        if v is None:
            if len(outputs) != 1 or outputs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the user-provided function returns a "
                                   "single Tensor with a single element.")
            v = (outputs[0].new_ones(outputs[0].shape),)
        result = _grads(outputs, inputs, _as_tuple(v), create_graph)
    outputs = _finish(outputs, create_graph)
    result = _finish(result, create_graph)
    return (outputs[0] if single_out else outputs), (result[0] if single_in else result)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of func at inputs, one backward per output element: shape output.shape + input.shape,
    nested as tuple[output][input] when func returns or takes tuples."""
    if strategy != "reverse-mode":
        raise NotImplementedError(f"jacobian(strategy={strategy!r}): gpunet has reverse mode only")
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _prepare(_as_tuple(inputs), create_graph)
        outputs = func(*inputs)
        single_out = isinstance(outputs, Tensor)
        outputs = _as_tuple(outputs)
        rows = []
        for i, out in enumerate(outputs):
            per_input = [[] for _ in inputs]
            flat = out.reshape(-1)
            for j in range(flat.numel()):
                seeds = [o.new_zeros(o.shape) for o in outputs]
                one_hot = out.new_zeros(flat.numel())
                one_hot[j] = 1
                seeds[i] = one_hot.reshape(out.shape)
                for k, g in enumerate(_grads(outputs, inputs, seeds, create_graph)):
                    per_input[k].append(g)
            blocks = []
            for inp, gs in zip(inputs, per_input):
                shape = tuple(out.shape) + tuple(inp.shape)
                block = stack(gs).reshape(shape) if gs else inp.new_zeros(shape)
                blocks.append(block if create_graph else block.detach())
            rows.append(blocks[0] if single_in else tuple(blocks))
    return rows[0] if single_out else tuple(rows)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar func: the Jacobian of its gradient (taken with create_graph=True)."""
    single_in = isinstance(inputs, Tensor)

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor with a single "
                               "element")
        gs = _grads((out,), xs, (out.new_ones(out.shape),), True)
        return gs[0] if single_in else gs

    return jacobian(gradient, inputs, create_graph=create_graph, strategy=outer_jacobian_strategy)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar func: the gradient of <grad func, v>."""
    return _second_order(func, inputs, v, create_graph, "hvp")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar func (equal to hvp: the Hessian is symmetric)."""
    return _second_order(func, inputs, v, create_graph, "vhp")


def _second_order(func, inputs, v, create_graph, name):
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        inputs = _prepare(_as_tuple(inputs), create_graph)
        out = func(*inputs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(f"The function given to {name} should return a single Tensor with a single "
                               "element")
        if v is None:
            if len(inputs) != 1 or inputs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the input to the user-provided function "
                                   "is a single Tensor with a single element.")
            v = inputs[0].new_ones(inputs[0].shape)
        first = _grads((out,), inputs, (out.new_ones(out.shape),), True)
        dot = sum((g * u).sum() for g, u in zip(first, _as_tuple(v)))
        second = _grads((dot,), inputs, (dot.new_ones(dot.shape),), create_graph)
    out = out if create_graph else out.detach()
    second = _finish(second, create_graph)
    return out, (second[0] if single_in else second)
