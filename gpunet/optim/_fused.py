"""The step driver shared by every algorithm that runs through a fused kernel ``K.<algo>_step``.

An algorithm class says four things: which array state its options need (``_state_spec``), its
scalar state (``_init_scalars``: 'step', NAdam's 'mu_product'), how one step advances that scalar
state (``_advance``, returning the scalars the kernel call needs), and the kernel call itself
(``_update``). Its update math exists only in the kernel. The driver here does the bookkeeping:

- params whose ``.grad`` is None are skipped (frozen: no weight decay, no momentum, no state change);
- state is created lazily, at a param's first step with a grad, with PyTorch's keys and order;
- every step makes one pass over each param's data, grad and state, with no temporaries the size
  of the model.

Two ways to call the kernel, both giving the same numbers (the tests check bit for bit):

- flat (the default on CPU and CUDA, ``_flat_devices``): see ``gpunet.optim._flat``. One kernel call per
  (group, device, dtype) whatever the tensor count, given the list of the params' grads (the CPU kernel
  reads them in place; no gather copy). Why not a call per tensor: each call costs ~20 us of Python and
  argument checks, and each parallel kernel call wakes Numba's thread pool (~2 us under the TBB layer,
  ~85-120 us under workqueue, kernels/__init__.py): ResNet-18's 62 tensors measured 1.2x (TBB) and 2.5x
  (workqueue) slower per tensor than in one call (``python -m gpunet.optim.bench`` measures both).
- per tensor (devices not in ``_flat_devices``, and groups listing a param twice): one call per param
  on 1-D views of its data, grad and state; a non-contiguous param or state array goes through a
  contiguous copy written back after the call, a non-contiguous grad is copied.

A group holding one param twice (PyTorch warns, and updates it twice) always takes the per-tensor
path, which updates it twice as PyTorch does.
"""

import numpy as np

from gpunet.backend import CPU
from gpunet.dtypes import get_default_dtype
from gpunet.optim import _flat
from gpunet.optim.optimizer import Optimizer
from gpunet.tensor import Tensor, _make


def _scalar(value):
    """A hyperparameter as a Python number (lr may be a 1-element tensor, as PyTorch allows)."""
    return float(value.item()) if isinstance(value, Tensor) else value


def _scalar_dtype():
    # PyTorch keeps 'step' in float32, or float64 when the default dtype is float64
    return "float64" if get_default_dtype().np.name == "float64" else "float32"


def new_scalar_state(value, group, param):
    """A 0-d state tensor ('step', 'mu_product'): on the CPU in the scalar dtype, or float32 on the param's
    device for groups with fused=True or capturable=True, as PyTorch keeps them."""
    if group.get("fused") or group.get("capturable"):
        host = np.full((), value, dtype=np.float32)
        t = _make(param._device.backend.from_host(host), param._device)
        t._extra_set("host_copy", (t._vc[0], host))  # see _tracked_on_host
        return t
    return _make(np.full((), value, dtype=_scalar_dtype()), CPU)


def bump(state, key, by=None, times=None):
    """state[key] += by (or *= times), in place in its 0-d tensor; returns the new value as a Python float."""
    t = state[key]
    if not isinstance(t, Tensor):  # a plain number from an old checkpoint
        t = state[key] = _make(np.asarray(float(t), dtype=_scalar_dtype()), CPU)
    a = t._data
    if by is not None:
        a += by
    else:
        a *= times
    t._vc[0] += 1
    if t._device is CPU:
        return float(a)
    return _tracked_on_host(t, by, times)


# Fused and capturable groups keep their scalar state on the param's device, as PyTorch does, but the
# kernels take host scalars: reading the value back each step would stall the GPU. So the host repeats
# each update on its own copy (same dtype, same operation, so the same number), and reads the device
# value only when the tensor is new to it or was changed by someone else (its version moved): one sync.
def _tracked_on_host(t, by, times):
    version, host = t._extra_get("host_copy") or (None, None)
    if version == t._vc[0] - 1:
        host = host.copy()
        if by is not None:
            host += by
        else:
            host *= times
    else:
        host = t._host()
    t._extra_set("host_copy", (t._vc[0], host))
    return float(host)


def check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_eps(eps):
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")


def check_betas(betas):
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def check_weight_decay(weight_decay):
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def check_fused(fused, foreach, differentiable):
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _contiguous_1d(array):
    """(1-D C-contiguous array over array's elements, whether it is a copy to write back)."""
    if array.flags.c_contiguous:
        return array.reshape(-1), False
    return array.ravel(), True  # ravel of a non-contiguous array copies


class FusedOptimizer(Optimizer):
    """Base of the algorithms whose update is one fused kernel per call (everything but LBFGS)."""

    # device types whose groups use flat buffers and one kernel call per step (gpunet.optim._flat); params
    # on other devices take the per-tensor path
    _flat_devices = frozenset({"cpu", "cuda"})

    def __init__(self, params, defaults):
        self._flat = {}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._flat = {}  # loaded state lives in its own tensors: flat buffers are rebuilt at the next step
        for per_param in self.state.values():
            for key in ("step", "mu_product"):
                if key in per_param and not isinstance(per_param[key], Tensor):
                    bump(per_param, key, by=0.0)  # a number from an older checkpoint -> a 0-d tensor

    # ---- what an algorithm defines ----------------------------------------------------------------
    def _state_spec(self, group):
        """[(name, fill)] of the array state the group's options need, in PyTorch's key order; fill is the
        initial value, or None for a buffer the kernel's first step writes (SGD's momentum_buffer)."""
        raise NotImplementedError

    def _init_scalars(self, group, param, state):
        """Create the scalar state of a param's first step ('step', ...)."""

    def _advance(self, group, state):
        """Advance the scalar state for this step; return the (hashable) scalars the kernel call needs.
        Params whose tuples are equal can share one kernel call. It may read only the group, the state's
        0-d entries and which array state exists: flat buckets advance one member for all members that
        agree on those (``gpunet.optim._flat``)."""
        return ()

    def _update(self, K, group, param, grad, arrays, scalars):
        """Call the kernel on 1-D arrays; ``arrays`` maps state names to arrays (None when unused)."""
        raise NotImplementedError

    # ---- driver -----------------------------------------------------------------------------------
    def _has_state(self, group, spec):
        return bool(spec) or type(self)._init_scalars is not FusedOptimizer._init_scalars

    def _ensure_state(self, group, p, spec):
        """The param's state dict, created or completed with every entry of spec that has a fill value."""
        state = self.state[p]
        if not state:
            if p._data.dtype.name not in ("float32", "float64"):
                raise TypeError(f"{type(self).__name__}: a parameter of shape {tuple(p.shape)} has dtype "
                                f"{p.dtype}; the fused kernels update float32 and float64 parameters (keep a "
                                "float32 master copy of lower-precision weights)")
            self._init_scalars(group, p, state)
        for name, fill in spec:
            if fill is not None and name not in state:
                state[name] = _make(p._device.xp.full(p._data.shape, fill, dtype=p._data.dtype), p._device)
        return state

    def step(self, closure=None):
        """One optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            spec = self._state_spec(group)
            params = group["params"]
            if self._flat_devices:
                params = _flat.step_group(self, group, spec)  # the params left to the per-tensor path
            if params:
                self._step_per_tensor(group, spec, params)
        if len(self._flat) > len(self.param_groups):  # groups removed by the user: free their buffers
            live = {id(g) for g in self.param_groups}
            self._flat = {k: v for k, v in self._flat.items() if k in live}
        return loss

    def _step_per_tensor(self, group, spec, params):
        has_state = self._has_state(group, spec)
        for p in params:
            g = p._grad
            if g is None:
                continue
            if has_state:
                state = self._ensure_state(group, p, spec)
            else:
                state = {}
            scalars = self._advance(group, state)
            param, write_param = _contiguous_1d(p._data)
            grad = _flat.flat_grad(p)
            arrays = {}
            written = []
            for name, fill in spec:
                t = state.get(name)
                if t is None:  # a buffer the first step writes
                    t = state[name] = _make(p._device.xp.empty(p._data.shape, p._data.dtype), p._device)
                arr, copied = _contiguous_1d(t._data)
                arrays[name] = arr
                if copied:
                    written.append((t._data, arr))
            self._update(p._device.K, group, param, grad, arrays, scalars)
            if write_param:
                p._data[...] = param.reshape(p._data.shape)
            for target, arr in written:
                target[...] = arr.reshape(target.shape)
            p._vc[0] += 1
