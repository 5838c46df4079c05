"""gpunet.autograd: backward, grad, Function, grad modes, gradcheck, Variable."""
from gpunet.autograd.function import Function, FunctionCtx, once_differentiable  # noqa: F401
from gpunet.autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,  # noqa: F401
                                       set_grad_enabled)
from gpunet.autograd.gradcheck import gradcheck  # noqa: F401


def _roots(tensors, grad_tensors, op):
    from gpunet.autograd.function import _edge
    from gpunet.tensor import Tensor
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
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs (got a tensor of "
                                   f"shape {list(t._data.shape)}); pass gradient=... of that shape")
            g_arr = t._device.xp.ones(t._data.shape, dtype=t._data.dtype)
        else:
            if not isinstance(g, Tensor):
                from gpunet.ops.creation import tensor
                g = tensor(g, dtype=t.dtype, device=t._device)
            if g._data.shape != t._data.shape:
                raise RuntimeError(f"{op}: Mismatch in shape: grad_output[0] has a shape of {list(g._data.shape)} "
                                   f"and output[0] has a shape of {list(t._data.shape)}.")
            if g._device is not t._device:
                raise RuntimeError(f"{op}: gradient is on {g._device} but the tensor is on {t._device}")
            g_arr = g._data if g._data.dtype == t._data.dtype else g._data.astype(t._data.dtype)
        roots.append(_edge(t))
        grads.append(g_arr)
    return roots, grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (or only into `inputs`)."""
    from gpunet.autograd.engine import run_backward
    if create_graph:
        raise NotImplementedError("backward(create_graph=True): gpunet does not support higher-order gradients")
    roots, grads = _roots(tensors, grad_tensors if grad_tensors is not None else grad_variables, "backward")
    if inputs is not None:
        from gpunet.tensor import Tensor
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        found = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, found):
            if g is not None:
                t._grad = g if t._grad is None else t._grad + g
        return
    run_backward(roots, grads, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any .grad."""
    from gpunet.autograd.engine import run_backward
    from gpunet.autograd.function import _edge
    from gpunet.tensor import Tensor, _make
    if create_graph:
        raise NotImplementedError("grad(create_graph=True): gpunet does not support higher-order gradients")
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots, grads = _roots(outputs, grad_outputs, "grad")
    keys = [_edge(t) for t in inputs]
    capture = run_backward(roots, grads, bool(retain_graph), capture={k: None for k in keys})
    result = []
    for t, k in zip(inputs, keys):
        g = capture.get(k)
        if g is None:
            if materialize_grads:
                g = t._device.xp.zeros(t._data.shape, dtype=t._data.dtype)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        result.append(None if g is None else _make(g if g.base is None else g.copy(), t._device))
    return tuple(result)


def Variable(data, requires_grad=False, volatile=False):
    """The legacy wrapper PyTorch keeps: returns a Tensor (requiring grad when asked)."""
    from gpunet.ops.creation import tensor
    from gpunet.tensor import Tensor
    t = data.detach() if isinstance(data, Tensor) else tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t
