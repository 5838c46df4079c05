"""DistributedDataParallel: the same module on every rank, gradients averaged across ranks.

- The ranks are the default group's, or process_group's (one from dist.new_group).
- At construction rank 0's parameters and buffers are broadcast to every rank (one flat buffer per
  dtype and device), and the trainable parameters are split into buckets in reverse registration order
  (roughly the order backward produces their gradients): the first bucket holds at most 1 MiB (so its
  all-reduce starts early, as PyTorch's), the others bucket_cap_mb MiB (25 by default; an explicit
  bucket_cap_mb caps the first bucket too, as in PyTorch).
- A post-accumulate-grad hook on every trainable parameter (Tensor.register_post_accumulate_grad_hook)
  fires once backward has accumulated that parameter's gradient into `.grad` (once per backward, even
  for a parameter used twice: the engine sums its gradients first). When every parameter of a bucket has
  fired, the bucket is packed into one flat array and its all-reduce (AVG) starts without blocking
  (dist.all_reduce(async_op=True): MPI Iallreduce, or NCCL on its stream). Buckets start strictly in
  order, the same on every rank: a ready bucket waits for the ones before it. autograd.grad accumulates
  nothing, so it never triggers a reduction (gradient penalties through a DDP model stay local).
- The first hook of a backward queues one callback (gpunet.autograd.engine.queue_callback); when the
  backward has finished it starts the buckets still waiting (those with a parameter that got no gradient
  on this rank), waits for every all-reduce in order and writes the averages back into each `.grad`.
  MPICH makes progress only inside MPI calls (no progress thread by default), so on CPU most of the
  transfer still happens in the final waits; the overlap pays where the network works on its own (NCCL).
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
from gpunet.distributed.process_group import _default_group, in_group
from gpunet.nn.module import Module
from gpunet.tensor import _make

MIB = 1024 * 1024
FIRST_BUCKET_BYTES = MIB  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


def _groups_by_dtype(tensors):
    """{(dtype, device): [tensors]} in the given order."""
    groups = {}
    for t in tensors:
        groups.setdefault((t._data.dtype, t._device), []).append(t)
    return list(groups.values())


def _broadcast_coalesced(tensors, pg):
    """Copy the values of `tensors` on pg's first rank into every rank's, one flat broadcast per dtype and
    device."""
    for same in _groups_by_dtype(tensors):
        xp = same[0]._device.xp
        flat = _make(xp.concatenate([t._data.reshape(-1) for t in same]), same[0]._device)
        collectives.broadcast(flat, group=pg, group_src=0)
        offset = 0
        for t in same:
            n = t._data.size
            t._data[...] = flat._data[offset:offset + n].reshape(t._data.shape)
            offset += n


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training over the default process group, or process_group (see the
    module doc)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        self._pg = _default_group(process_group)
        if not in_group(self._pg):
            raise ValueError("DistributedDataParallel: this process is not a member of process_group")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * MIB)
        # PyTorch's default first bucket is 1 MiB; an explicit bucket_cap_mb applies to it as well
        self._first_bucket_bytes = FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._named_params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._buckets = self._make_buckets()
        self._bucket_of = {id(p): k for k, bucket in enumerate(self._buckets) for _, p in bucket}
        self._sync_pending = False  # set by the forward that built the graph being differentiated
        self._queued = False
        self._reset_buckets()
        self._comm_seconds = 0.0  # seconds in packing, starting, waiting, unpacking (for measurements)
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._on_grad_ready)
                              for _, p in self._named_params]
        if self._pg.size() > 1:
            with no_grad():
                _broadcast_coalesced(list(module.parameters()) + list(module.buffers()), self._pg)

    def _make_buckets(self):
        """Lists of (name, parameter), reverse registration order, one dtype and device each, the first at
        most _first_bucket_bytes bytes and the others bucket_bytes_cap (a larger parameter gets a bucket
        of its own)."""
        buckets, current, size, key = [], [], 0, None
        for name, p in reversed(self._named_params):
            nbytes = p._data.nbytes
            p_key = (p._data.dtype, p._device)
            cap = self.bucket_bytes_cap if buckets else self._first_bucket_bytes
            if current and (p_key != key or size + nbytes > cap):
                buckets.append(current)
                current, size = [], 0
            current.append((name, p))
            size += nbytes
            key = p_key
        if current:
            buckets.append(current)
        return buckets

    def _reset_buckets(self):
        """Before a synchronised backward: no parameter ready, no all-reduce started."""
        self._waiting = [len(bucket) for bucket in self._buckets]  # parameters not yet ready, per bucket
        self._ready = set()  # ids of the parameters whose gradient is accumulated
        self._works = []  # (work, flat array) per started bucket, in bucket order

    def forward(self, *inputs, **kwargs):
        if self.require_forward_param_sync and self.broadcast_buffers and self._pg.size() > 1:
            buffers = list(self.module.buffers())
            if buffers:
                with no_grad():
                    _broadcast_coalesced(buffers, self._pg)
        self._sync_pending = self.require_backward_grad_sync and is_grad_enabled()
        if self._queued:  # the last backward raised before its callback ran: start afresh
            self._queued = False
            self._reset_buckets()
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

    def _on_grad_ready(self, param):
        """Post-accumulate-grad hook: param.grad holds this backward's gradient."""
        if not self._sync_pending:
            return  # a no_sync backward: gradients only accumulate locally
        if not self._queued:
            self._queued = True
            queue_callback(self._reduce_gradients)
        if id(param) in self._ready:
            raise RuntimeError("DistributedDataParallel: a parameter was marked ready twice in one backward "
                               "(its gradient was accumulated twice, e.g. by a reentrant backward)")
        self._ready.add(id(param))
        k = self._bucket_of[id(param)]
        self._waiting[k] -= 1
        if self._waiting[k] == 0 and self._pg.size() > 1:
            self._start_ready_buckets()

    def _start_ready_buckets(self):
        """Start the all-reduces of the ready buckets that follow the started ones (bucket order keeps
        every rank issuing the same collectives in the same order)."""
        while len(self._works) < len(self._buckets) and self._waiting[len(self._works)] == 0:
            self._start_bucket(len(self._works))

    def _reduce_gradients(self):
        """After backward: start the buckets still waiting, wait for every all-reduce, unpack."""
        self._queued = False
        try:
            if not self.find_unused_parameters:
                self._check_every_parameter_has_a_gradient()
            if self._pg.size() > 1:
                self._finish_buckets()
        finally:
            self._reset_buckets()

    def _check_every_parameter_has_a_gradient(self):
        missing = [name for name, p in self._named_params if p.grad is None]
        if missing:
            raise RuntimeError(
                f"DistributedDataParallel: parameters received no gradient on rank {self._pg.rank()}: "
                f"{', '.join(missing)}. Pass find_unused_parameters=True to DistributedDataParallel "
                "when some parameters do not take part in computing the loss.")

    def _finish_buckets(self):
        for k in range(len(self._works), len(self._buckets)):
            self._start_bucket(k)
        start = time.perf_counter()
        used = None
        if self.find_unused_parameters:  # a parameter that no rank used keeps grad None
            counts = np.array([p.grad is not None for _, p in self._named_params], dtype=np.int32)
            collectives.all_reduce(_make(counts, CPU), group=self._pg)
            used = {id(p): int(c) > 0 for (_, p), c in zip(self._named_params, counts)}
        for (work, flat), bucket in zip(self._works, self._buckets):
            work.wait()
            self._unpack([p for _, p in bucket], flat, used)
        self._comm_seconds += time.perf_counter() - start

    def _start_bucket(self, k):
        """Pack bucket k's gradients (zeros for a parameter without one) and start its all-reduce."""
        start = time.perf_counter()
        params = [p for _, p in self._buckets[k]]
        device = params[0]._device
        xp = device.xp
        dtype = params[0]._data.dtype
        parts = [p.grad._data.reshape(-1) if p.grad is not None else xp.zeros(p._data.size, dtype=dtype)
                 for p in params]
        flat = _make(xp.concatenate(parts).astype(dtype, copy=False), device)
        work = collectives.all_reduce(flat, collectives.ReduceOp.AVG, group=self._pg, async_op=True)
        self._works.append((work, flat))
        self._comm_seconds += time.perf_counter() - start

    def _unpack(self, params, flat, used):
        offset = 0
        for p in params:
            n = p._data.size
            average = flat._data[offset:offset + n].reshape(p._data.shape)
            offset += n
            if p.grad is None:
                if used is not None and used[id(p)]:
                    p.grad = _make(average.copy(), p._device)
            elif p.grad._data.flags.writeable:
                p.grad._data[...] = average
                p.grad._vc[0] += 1
            else:
                p.grad = _make(average.copy(), p._device)

    def extra_repr(self):
        return ""
