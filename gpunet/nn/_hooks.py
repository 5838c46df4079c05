"""Module hook plumbing: removable handles, and full backward hooks.

Backward hooks are identity Functions around a module's tensor inputs and outputs.

The output-side node sees grad_output (and runs the backward pre-hooks, which may replace it); the
input-side node sees grad_input once every gradient for the inputs is summed, and runs
`hook(module, grad_input, grad_output)`, which may return a replacement grad_input. When no input
requires grad, the hooks run from the output side with grad_input all None, as in PyTorch.
"""

import itertools

from gpunet.autograd.function import Function
from gpunet.tensor import Tensor
from gpunet.utils.hooks import RemovableHandle

_hook_ids = itertools.count()


class _HookHandle(RemovableHandle):
    """Removes a hook from its dict and from the companion flag dicts (with_kwargs, always_call)."""

    def __init__(self, hooks, key, extra=()):
        super().__init__(hooks, key)
        self._extra_dicts = extra

    def remove(self):
        super().remove()
        for d in self._extra_dicts:
            d.pop(self._key, None)


def _add_hook(hooks, hook, prepend, flags=()):
    """Insert hook into an ordered dict of hooks (optionally first); returns a removable handle."""
    key = next(_hook_ids)
    hooks[key] = hook
    if prepend:
        for k in [k for k in hooks if k != key]:
            hooks[k] = hooks.pop(k)
    for d, on in flags:
        if on:
            d[key] = True
    return _HookHandle(hooks, key, tuple(d for d, _ in flags))


class _InputHook(Function):
    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.on_grad_input(grads))


class _OutputHook(Function):
    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.state.on_grad_output(grads))


class BackwardHook:
    """One module call's backward-hook state."""

    def __init__(self, module):
        self.module = module
        self.grad_output = None
        self.n_args = 0
        self.positions = []  # indices (among tensor args) of the inputs that went through _InputHook

    def wrap_inputs(self, args):
        tensor_idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_args = len(tensor_idx)
        needs = [i for i in tensor_idx if args[i].requires_grad]
        self.positions = [tensor_idx.index(i) for i in needs]
        if not needs:
            return args
        wrapped = _InputHook.apply(self, *(args[i] for i in needs))
        args = list(args)
        for i, t in zip(needs, wrapped):
            args[i] = t
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outs = (output,) if single else output
        if not isinstance(outs, (tuple, list)):
            return output
        idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not idx:
            return output
        wrapped = _OutputHook.apply(self, *(outs[i] for i in idx))
        new = list(outs)
        for i, t in zip(idx, wrapped):
            new[i] = t
        if single:
            return new[0]
        return type(outs)(new) if isinstance(outs, list) else tuple(new)

    def on_grad_output(self, grads):
        m = self.module
        for hook in list(m._backward_pre_hooks.values()):
            result = hook(m, grads)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grads):
                    raise RuntimeError(
                        f"Backward pre hook returned an invalid number of grad_output, got "
                        f"{len(result)}, but expected {len(grads)}"
                    )
                grads = result
        self.grad_output = grads
        if not self.positions:  # no input needs grad: the input-side node never runs
            self._run_hooks((None,) * self.n_args)
        return grads

    def on_grad_input(self, grads):
        full = [None] * self.n_args
        for pos, g in zip(self.positions, grads):
            full[pos] = g
        full = self._run_hooks(tuple(full))
        return tuple(full[pos] for pos in self.positions)

    def _run_hooks(self, grad_input):
        m = self.module
        for hook in list(m._backward_hooks.values()):
            result = hook(m, grad_input, self.grad_output)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        f"Backward hook returned an invalid number of grad_input, got "
                        f"{len(result)}, but expected {len(grad_input)}"
                    )
                grad_input = result
        return grad_input
