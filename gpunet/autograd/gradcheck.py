"""Finite-difference gradient check (float64), as torch.autograd.gradcheck."""
import warnings

import numpy as np

from gpunet._from_data import tensor
from gpunet.autograd.engine import grad
from gpunet.autograd.grad_mode import enable_grad, no_grad
from gpunet.tensor import Tensor, _make


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """Compare analytical gradients of func(*inputs) with central differences, input by input."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in diff_inputs:
        if t._data.dtype != np.float64:
            warnings.warn(f"gradcheck: input of dtype {t.dtype} is not double precision; "
                          "results may be inaccurate", UserWarning, stacklevel=2)
    outputs = func(*inputs)
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    if not any(out.requires_grad for out in outputs):
        return True
    sizes = [out.numel() for out in outputs]
    numerical = [_numerical_jacobian(func, inputs, t, eps, sizes) for t in diff_inputs]
    for k, out in enumerate(outputs):
        if not out.requires_grad:
            continue
        n_out = out.numel()
        for j in range(n_out):
            seed = out._device.xp.zeros(out._data.shape, dtype=out._data.dtype)
            seed.reshape(-1)[j] = 1
            analytical = grad(out, diff_inputs, _make(seed, out._device), retain_graph=True,
                              allow_unused=True)
            for i, t in enumerate(diff_inputs):
                numeric = numerical[i][k][:, j]
                a = analytical[i]
                a = (np.zeros(t.numel()) if a is None
                     else np.asarray(a.detach()._host(), dtype=np.float64).reshape(-1))
                if not np.allclose(a, numeric, atol=atol, rtol=rtol):
                    msg = (f"Jacobian mismatch for output {k} element {j} with respect to input {i}:\n"
                           f"numerical: {numeric}\nanalytical: {a}")
                    if raise_exception:
                        raise RuntimeError(msg)
                    return False
    return True


def _numerical_jacobian(func, inputs, t, eps, sizes):
    """Central differences of every output with respect to every element of t: a (t.numel(), size) array
    per output. One pair of evaluations per element of t serves all output elements."""
    flat = t._data.reshape(-1)
    values = np.array(t._host(), dtype=np.float64).reshape(-1)  # one read of the device, not one per element
    jacobians = [np.zeros((flat.size, n)) for n in sizes]
    for e in range(flat.size):
        orig = float(values[e])
        with no_grad():
            flat[e] = orig + eps
            plus = _output_values(func(*inputs))
            flat[e] = orig - eps
            minus = _output_values(func(*inputs))
            flat[e] = orig
        for jac, p, m in zip(jacobians, plus, minus):
            jac[e] = (p - m) / (2 * eps)
    return jacobians


def _output_values(outputs):
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    return [np.asarray(out._host(), dtype=np.float64).reshape(-1) for out in outputs]


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  **_ignored):
    """Check second derivatives: gradcheck of the map (inputs, grad_outputs) -> grad(func(inputs), inputs,
    grad_outputs, create_graph=True), as torch.autograd.gradgradcheck. grad_outputs default to random
    values in [-1, 1) (fixed seed) that require grad."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    n_inputs = len(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        with no_grad():
            outputs = _differentiable(func(*inputs))
        grad_outputs = tuple(tensor(rng.uniform(-1, 1, size=tuple(o.shape)), dtype=o.dtype, device=o.device,
                                    requires_grad=True) for o in outputs)
    else:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)

    def first_derivatives(*args):
        ins, seeds = args[:n_inputs], args[n_inputs:]
        with enable_grad():  # gradcheck evaluates the function under no_grad for its differences
            outputs = _differentiable(func(*ins), ins)
            grads = grad(outputs, [ins[i] for i in diff], seeds, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _differentiable(outputs, inputs=None):
    """The outputs that take part in differentiation: those requiring grad (under no_grad, the float ones)."""
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    if inputs is None:
        return tuple(o for o in outputs if o.is_floating_point())
    return tuple(o for o in outputs if o.requires_grad)
