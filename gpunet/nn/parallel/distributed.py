"""DistributedDataParallel: the same module on every rank, gradients averaged across ranks.

- At construction rank 0's parameters and buffers are broadcast to every rank (one flat buffer per
  dtype and device), and the trainable parameters are split into buckets of about bucket_cap_mb MiB in
  reverse registration order (roughly the order backward produces their gradients).
- A hook on every trainable parameter queues one callback on the autograd engine the first time it fires
  in a backward (gpunet.autograd.engine.queue_callback); when the backward has finished, the callback
  packs each bucket's gradients into one flat array, all-reduces it (one MPI Allreduce per bucket, the
  same order on every rank), divides by the world size and writes the averages back into each `.grad`.
  Overlapping communication with backward saved nothing on two cores, so it is not attempted.
- Whether a backward synchronises is decided by the forward that built its graph: a forward inside
  no_sync() leaves its backward local (gradient accumulation); the next synchronised backward averages
  the accumulated gradients.
- find_unused_parameters=True: a parameter without a gradient on a rank contributes zeros; one that no
  rank used keeps grad None. Without it, a parameter with no gradient is an error (as in PyTorch).
- broadcast_buffers=True: every forward first copies rank 0's buffers (BatchNorm statistics) to all ranks.
"""
import time
from contextlib import contextmanager

import numpy as np

from gpunet.autograd.engine import queue_callback
from gpunet.backend import CPU
from gpunet.autograd.grad_mode import is_grad_enabled, no_grad
from gpunet.distributed import collectives
from gpunet.distributed.process_group import _default_group
from gpunet.nn.module import Module
from gpunet.tensor import _make


def _groups_by_dtype(tensors):
    """{(dtype, device): [tensors]} in the given order."""
    groups = {}
    for t in tensors:
        groups.setdefault((t._data.dtype, t._device), []).append(t)
    return list(groups.values())


def _broadcast_coalesced(tensors, src=0):
    """Copy src's values of `tensors` into every rank's, one flat broadcast per dtype and device."""
    for same in _groups_by_dtype(tensors):
        xp = same[0]._device.xp
        flat = _make(xp.concatenate([t._data.reshape(-1) for t in same]), same[0]._device)
        collectives.broadcast(flat, src)
        offset = 0
        for t in same:
            n = t._data.size
            t._data[...] = flat._data[offset:offset + n].reshape(t._data.shape)
            offset += n


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training over the default process group (see the module doc)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        self._pg = _default_group(process_group)
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._named_params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._buckets = self._make_buckets()
        self._sync_pending = False  # set by the forward that built the graph being differentiated
        self._queued = False
        self._comm_seconds = 0.0  # time spent in the gradient all-reduces (gpunet's, for measurements)
        self._hook_handles = [p.register_hook(self._on_grad) for _, p in self._named_params]
        if self._pg.size() > 1:
            with no_grad():
                _broadcast_coalesced([p for p in module.parameters()] + [b for b in module.buffers()])

    def _make_buckets(self):
        """Lists of (name, parameter), reverse registration order, one dtype and device each, each at
        most bucket_bytes_cap bytes (a larger parameter gets a bucket of its own)."""
        buckets, current, size, key = [], [], 0, None
        for name, p in reversed(self._named_params):
            nbytes = p._data.nbytes
            p_key = (p._data.dtype, p._device)
            if current and (p_key != key or size + nbytes > self.bucket_bytes_cap):
                buckets.append(current)
                current, size = [], 0
            current.append((name, p))
            size += nbytes
            key = p_key
        if current:
            buckets.append(current)
        return buckets

    def forward(self, *inputs, **kwargs):
        if self.require_forward_param_sync and self.broadcast_buffers and self._pg.size() > 1:
            buffers = list(self.module.buffers())
            if buffers:
                with no_grad():
                    _broadcast_coalesced(buffers)
        self._sync_pending = self.require_backward_grad_sync and is_grad_enabled()
        return self.module(*inputs, **kwargs)

    @contextmanager
    def no_sync(self):
        """Backwards of forwards run inside this context only accumulate local gradients."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _on_grad(self, grad):
        if self._sync_pending and not self._queued:
            self._queued = True
            queue_callback(self._reduce_gradients)
        return None

    def _reduce_gradients(self):
        self._queued = False
        if not self.find_unused_parameters:
            missing = [name for name, p in self._named_params if p.grad is None]
            if missing:
                raise RuntimeError(
                    f"DistributedDataParallel: parameters received no gradient on rank {self._pg.rank()}: "
                    f"{', '.join(missing)}. Pass find_unused_parameters=True to DistributedDataParallel "
                    "when some parameters do not take part in computing the loss.")
        world = self._pg.size()
        if world == 1:
            return
        start = time.perf_counter()
        used = None
        if self.find_unused_parameters:
            counts = np.array([p.grad is not None for _, p in self._named_params], dtype=np.int32)
            collectives.all_reduce(_make(counts, CPU))
            used = {id(p): int(c) > 0 for (_, p), c in zip(self._named_params, counts)}
        for bucket in self._buckets:
            self._reduce_bucket([p for _, p in bucket], used)
        self._comm_seconds += time.perf_counter() - start

    def _reduce_bucket(self, params, used):
        device = params[0]._device
        xp = device.xp
        dtype = params[0]._data.dtype
        parts = [p.grad._data.reshape(-1) if p.grad is not None else xp.zeros(p._data.size, dtype=dtype)
                 for p in params]
        flat = _make(xp.concatenate(parts).astype(dtype, copy=False), device)
        collectives.all_reduce(flat, collectives.ReduceOp.AVG)
        offset = 0
        for p in params:
            n = p._data.size
            average = flat._data[offset:offset + n].reshape(p._data.shape)
            offset += n
            if p.grad is None:
                if used is not None and used[id(p)]:
                    p.grad = _make(average.copy(), device)
            elif p.grad._data.flags.writeable:
                p.grad._data[...] = average
                p.grad._vc[0] += 1
            else:
                p.grad = _make(average.copy(), device)

    def extra_repr(self):
        return ""
