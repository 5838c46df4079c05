"""Flat buffers for a param group: few fused-kernel calls per group and step, whatever its tensor count.

At the first step, each (group, device, dtype) gets a bucket: one flat buffer holding its params
back to back, and one per array state (exp_avg, ...) with the same layout. Each param's ``_data`` is
rebound to a view of its slice of the flat param buffer (values copied in), and so is each state
tensor's (the tensor objects stay, as PyTorch updates a loaded checkpoint's tensors in place), so
``state_dict()`` still shows per-param tensors and the model sees every update without copies. The
members' 0-d scalar state ('step', NAdam's 'mu_product') becomes views of one small array per key:
while every member has a grad and the same counts, one ``_advance`` and one vector copy stand for 62
per-param bumps (~100 us).

A step makes ONE kernel call per bucket (per run, below) and hands the kernel the list of the params'
grads as they are: the CPU kernel reads them in place, the CUDA one gathers them first (see the kernels'
``<algo>_step``). Devices taking this path: ``FusedOptimizer._flat_devices``.

Correctness when things change under the optimizer, checked at every step (identity tests only):

- a param whose grad is None (frozen) is left out: the members with grads form runs of adjacent
  slices, one kernel call per run, so a frozen param and its state do not move. Members whose
  kernel scalars differ (different 'step' counts, SGD's first momentum step) split runs too;
- a param rebound by the user (``p.data = ...``, ``module.to(...)``), a state tensor replaced, state
  cleared or loaded (``load_state_dict``), a new param with a grad, a param list edited in place, an
  option that needs other state (amsgrad turned on): the group's buckets are rebuilt from the
  per-param tensors, state moved to the param's device and dtype;
- ``add_param_group``: the new group gets its own buckets at its first step.

What users see: from its first step the optimizer owns the storage of its params. An array or view
that shared a param's memory before (``gpunet.from_numpy(a)`` as a param, ``w = p.detach()``) no longer
follows the param after the first step (or a rebuild); take views after it, or read ``p`` itself.
"""
import numpy as np

from gpunet.backend import CPU
from gpunet.tensor import Tensor, _make


def step_group(opt, group, spec):
    """Step the group's params that live on a flat device; return the params left to the per-tensor path."""
    params = group["params"]
    ids = tuple(map(id, params))
    fg = opt._flat.get(id(group))
    if fg is None or fg.group is not group or fg.ids != ids:
        fg = opt._flat[id(group)] = _FlatGroup(group, ids, opt._flat_devices)
    if fg.members_eligible:
        fg.step(opt, group, spec)
    return fg.others


class _FlatGroup:
    """The flat layout of one param group: its buckets, and the params it leaves to the per-tensor path."""

    def __init__(self, group, ids, devices):
        params = group["params"]
        self.group = group
        self.devices = devices
        self.ids = ids
        self.names = None
        self.buckets = []
        self.member_ids = frozenset()
        self.duplicates = len(set(ids)) != len(ids)
        self._split(params)

    def _split(self, params):
        if self.duplicates:  # a param listed twice is updated twice: per tensor, as PyTorch does
            self.members_eligible, self.others = [], list(params)
        else:
            self.members_eligible = [p for p in params if p._device.type in self.devices]
            self.others = [p for p in params if p._device.type not in self.devices]

    def step(self, opt, group, spec):
        names = tuple(name for name, _ in spec)
        if names != self.names or not self._current(opt):
            self._rebuild(opt, group, spec)
            self.names = names
        has_state = opt._has_state(group, spec)
        for bucket in self.buckets:
            bucket.step(opt, group, spec, has_state)

    def _current(self, opt):
        member_ids = self.member_ids
        for p in self.members_eligible:
            if p._grad is not None and id(p) not in member_ids:
                return False
        return all(b.intact(opt) for b in self.buckets)

    def _rebuild(self, opt, group, spec):
        self.buckets = []  # views into the old buffers stay valid arrays until rebound below
        self._split(group["params"])  # a param may have moved to another device
        has_state = opt._has_state(group, spec)
        members = {}
        for p in self.members_eligible:
            if p._grad is None and not opt.state.get(p):
                continue  # never stepped and no grad now: stays out until it gets one
            if has_state:
                opt._ensure_state(group, p, spec)  # complete: no slot of a member is left uninitialised
            members.setdefault((p._device, p._data.dtype), []).append(p)
        for (device, dtype), params in members.items():
            self.buckets.append(_Bucket(opt, spec, params, device, dtype, has_state))
        self.member_ids = frozenset(id(p) for b in self.buckets for p in b.params)


class _Bucket:
    """One (group, device, dtype): flat param and state buffers and the views handed out."""

    def __init__(self, opt, spec, params, device, dtype, has_state):
        xp = device.xp
        self.device = device
        self.params = params
        self.states = [opt.state[p] if has_state else None for p in params]
        offsets = [0]
        for p in params:
            offsets.append(offsets[-1] + p._data.size)
        self.offsets = offsets
        total = offsets[-1]
        self.flat_param = xp.empty(total, dtype)
        self.flat_state = {name: xp.empty(total, dtype) for name, _ in spec}
        self.param_views = []
        self.state_views = []
        for i, (p, state) in enumerate(zip(params, self.states)):
            lo, hi = offsets[i], offsets[i + 1]
            view = self.flat_param[lo:hi].reshape(p._data.shape)
            view[...] = p._data
            p._data = view
            self.param_views.append(view)
            views = {}
            for name, _ in spec:
                sview = self.flat_state[name][lo:hi].reshape(view.shape)
                t = state.get(name) if state is not None else None
                if t is not None:
                    _adopt(state, name, t, sview, p, device)
                views[name] = sview
            self.state_views.append(views)
        self.flat_scalars = {}
        if has_state:
            self.flat_scalars = _share_scalars(self.states, self.state_views, self.flat_state)

    def intact(self, opt):
        """True while every param and state tensor still holds the view handed out."""
        state_of = opt.state
        for p, view, state, views in zip(self.params, self.param_views, self.states, self.state_views):
            if p._data is not view:
                return False
            if state is not None:
                if state_of.get(p) is not state:
                    return False
                for name, sview in views.items():
                    t = state.get(name)
                    if t is not None and t._data is not sview:
                        return False
        return True

    def step(self, opt, group, spec, has_state):
        params, states, offsets = self.params, self.states, self.offsets
        lazy = [name for name, fill in spec if fill is None]
        if self.flat_scalars is not None and self._uniform(lazy):
            runs = [(0, len(params), self._advance_all(opt, group, has_state))]
        else:
            runs = self._runs(opt, group, has_state)
        K = self.device.K
        for i0, i1, scalars in runs:
            lo, hi = offsets[i0], offsets[i1]
            grad = [flat_grad(p) for p in params[i0:i1]]
            for name in lazy:  # buffers the kernel's first step writes become state now
                for i in range(i0, i1):
                    if name not in states[i]:
                        states[i][name] = _make(self.state_views[i][name], self.device)
            arrays = {name: flat[lo:hi] for name, flat in self.flat_state.items()}
            opt._update(K, group, self.flat_param[lo:hi], grad, arrays, scalars)
            for p in params[i0:i1]:
                p._vc[0] += 1

    def _uniform(self, lazy):
        """True when every member has a grad and the same scalar state and lazy buffers: then one
        ``_advance`` stands for all of them."""
        if not all(p._grad is not None for p in self.params):
            return False
        for flat in self.flat_scalars.values():
            if flat.min() != flat.max():
                return False
        states = self.states
        return all(all((name in s) == (name in states[0]) for s in states) for name in lazy)

    def _advance_all(self, opt, group, has_state):
        """Advance the first member's scalar state and copy it to the others (views of one array each)."""
        scalars = opt._advance(group, self.states[0] if has_state else {})
        for flat in self.flat_scalars.values():
            flat[1:] = flat[0]
        return scalars

    def _runs(self, opt, group, has_state):
        """[(first member, end member, kernel scalars)]: members with grads and equal scalars after
        ``_advance``, one kernel call each."""
        params, states = self.params, self.states
        runs = []
        start = key = None
        for i, p in enumerate(params):
            if p._grad is None:
                if start is not None:
                    runs.append((start, i, key))
                    start = None
                continue
            scalars = opt._advance(group, states[i] if has_state else {})
            if start is not None and scalars == key:
                continue
            if start is not None:
                runs.append((start, i, key))
            start, key = i, scalars
        if start is not None:
            runs.append((start, len(params), key))
        return runs


def flat_grad(p):
    """p's grad as a 1-D C-contiguous array (the grad's own memory when it is contiguous)."""
    g = p._grad._data
    if not g.flags.c_contiguous:
        g = p._device.xp.ascontiguousarray(g)
    return g.reshape(-1)


def _adopt(state, name, t, view, p, device):
    """Make state[name] (tensor t) hold `view`, a slice of a flat buffer, with t's values. The tensor object
    is kept when it is on the param's device, so references to it (a loaded checkpoint's dict) keep seeing
    the updates, as PyTorch's optimizers update loaded state tensors in place."""
    if t._data.size != view.size:
        raise RuntimeError(f"{name} state of a parameter of shape {tuple(view.shape)} has shape "
                           f"{tuple(t._data.shape)}; expected the parameter's shape")
    source = t if t._device is p._device else t.to(p._device)
    view.reshape(-1)[...] = source._data.reshape(-1)
    if t._device is device:
        t._data = view
    else:
        state[name] = _make(view, device)


def _share_scalars(states, state_views, array_state):
    """Point the members' 0-d CPU state tensors ('step', ...; not the array state of a 0-d param) at
    views of one array per key, sharing one version counter (as views do); return {key: that array}, or
    None when the members' scalar state differs in keys, dtype or device (those buckets advance member
    by member)."""
    def scalars(state):
        return {k: t for k, t in state.items()
                if k not in array_state and isinstance(t, Tensor) and t._data.ndim == 0}

    per_member = [scalars(s) for s in states]
    first = per_member[0]
    for member in per_member:
        if member.keys() != first.keys() or any(
                t._device is not CPU or t._data.dtype != first[k]._data.dtype for k, t in member.items()):
            return None
    flats = {}
    for key, t0 in first.items():
        tensors = [member[key] for member in per_member]
        flat = flats[key] = np.array([t._data for t in tensors], t0._data.dtype)
        vc = [max(t._vc[0] for t in tensors)]
        for i, t in enumerate(tensors):  # the tensor objects stay (see _adopt); their data moves
            t._data = state_views[i][key] = flat[i:i + 1].reshape(())
            t._vc = vc
    return flats
