"""Collectives on gpunet tensors, in place, over MPI (mpi4py) on the tensors' host arrays, or over NCCL
(gpunet.distributed.nccl) for contiguous cuda tensors when the backend is 'nccl'.

CPU tensors hand their NumPy arrays to MPI directly (a contiguous copy when they are strided). The
pip MPIs are not CUDA-aware, so a cuda tensor is copied to the host with the backend's to_host, reduced
there and copied back with from_host. In a world of one every collective is an identity (no MPI).

async_op=True: all_reduce, broadcast, reduce, all_to_all and all_to_all_single start MPI's non-blocking
Iallreduce/Ibcast/Ireduce/Ialltoallv and Work.wait() completes them (writing the results); every other
collective completes before returning a Work whose wait() returns at once.

group=: the default group (None) or one from new_group; src/dst are global ranks (group_src/group_dst
ranks in the group). On a process that is not in the group a collective warns and does nothing, as in
PyTorch.
"""
import warnings

import numpy as np

from gpunet.backend import CPU
from gpunet.distributed.process_group import _default_group, in_group
from gpunet.tensor import Tensor


class ReduceOp:
    """The reductions of all_reduce / reduce_scatter_tensor (ReduceOp.SUM, ...)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"

    class RedOpType:  # PyTorch spells the enum type ReduceOp.RedOpType
        pass


_OPS = ("sum", "avg", "product", "min", "max")


class Work:
    """The handle an async_op collective returns: wait() finishes it (writing results into the tensors)."""

    def __init__(self, requests=(), finish=None):
        self._requests = list(requests)
        self._finish = finish
        self._done = not self._requests and finish is None

    def wait(self, timeout=None):
        if not self._done:
            for request in self._requests:
                request.Wait()
            if self._finish is not None:
                self._finish()
            self._done = True
        return True

    def is_completed(self):
        return self._done

    def is_success(self):
        return self._done

    def result(self):
        return []


def _check_tensor(tensor, op, name="tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: {name} must be a gpunet Tensor, got {type(tensor).__name__}")


def _check_op(op, where):
    if op not in _OPS:
        raise ValueError(f"{where}: unknown reduce op {op!r}; use dist.ReduceOp.SUM/AVG/PRODUCT/MIN/MAX")


def _host(tensor):
    """A C-contiguous host array with the tensor's values (the tensor's own array when possible) and
    whether it *is* the tensor's array (so MPI writes the result straight into it)."""
    arr = tensor._data
    if tensor._device is CPU:
        if arr.flags.c_contiguous and arr.flags.writeable:
            return arr, True
        return np.ascontiguousarray(arr), False
    return np.ascontiguousarray(tensor._device.backend.to_host(arr)), False


def _store(tensor, host, own):
    """Write a host result into the tensor in place and count the change (the version counter)."""
    if not own:
        arr = tensor._data
        if tensor._device.type == "cpu":
            arr[...] = host.reshape(arr.shape)
        else:
            arr[...] = tensor._device.backend.from_host(host.reshape(arr.shape))
    tensor._vc[0] += 1


def _mpi_view(host):
    """The buffer MPI reduces: float16 goes through float32 and bool through uint8 (MPI lacks both
    reductions); returns (buffer, convert back)."""
    if host.dtype == np.float16:
        return host.astype(np.float32), lambda buf: buf.astype(np.float16)
    if host.dtype == np.bool_:
        return host.astype(np.uint8), lambda buf: buf != 0
    return host, None


def _mpi_op(MPI, op):
    return {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}[op]


def _divide(buf, n):
    if np.issubdtype(buf.dtype, np.integer):
        buf //= n
    else:
        buf /= n


def _finish_reduction(tensor, host, own, buf, back, op, size):
    """After MPI reduced buf (the _mpi_view of host): divide for AVG, convert back, store into tensor."""
    if op == "avg":
        _divide(buf, size)
    result = back(buf) if back is not None else buf
    if result is not host:
        host[...] = result
    _store(tensor, host, own)


def _mpi():
    from mpi4py import MPI  # present: the group's comm came from it
    return MPI


def _group(group, op):
    """The ProcessGroup op runs on, or None when this process is not a member of `group`."""
    pg = _default_group(group)
    if not in_group(pg):
        warnings.warn(f"Running {op} on global rank {_default_group().rank()} which does not belong to the "
                      "given group.", stacklevel=3)
        return None
    return pg


def _root(pg, op, name, global_rank, group_rank):
    """The rank in pg of a collective's root, given as a global rank (src=/dst=) or a group rank
    (group_src=/group_dst=)."""
    if group_rank is None:
        return pg.group_rank(0 if global_rank is None else global_rank, op, name)
    if global_rank is not None:
        raise ValueError(f"{op}: give {name}= or group_{name}=, not both")
    if not 0 <= group_rank < pg.size():
        raise ValueError(f"{op}: group_{name}={group_rank} is not a rank of a group of {pg.size()}")
    return group_rank


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce tensor across ranks (op) and leave the result in every rank's tensor."""
    _check_tensor(tensor, "all_reduce")
    _check_op(op, "all_reduce")
    pg = _group(group, "all_reduce")
    if pg is None:
        return None
    if pg.nccl is not None and pg.nccl.takes(tensor):
        pg.nccl.all_reduce(tensor._data, op)
        tensor._vc[0] += 1
        return _done(async_op)
    if pg.comm is None or pg.size() == 1:
        return Work() if async_op else None
    MPI = _mpi()
    host, own = _host(tensor)
    buf, back = _mpi_view(host)

    def finish():
        _finish_reduction(tensor, host, own, buf, back, op, pg.size())

    if async_op:
        request = pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=_mpi_op(MPI, op))
        return Work([request], finish)
    pg.comm.Allreduce(MPI.IN_PLACE, buf, op=_mpi_op(MPI, op))
    finish()
    return None


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy src's tensor into every rank's tensor."""
    _check_tensor(tensor, "broadcast")
    pg = _group(group, "broadcast")
    if pg is None:
        return None
    src = _root(pg, "broadcast", "src", src, group_src)
    if pg.nccl is not None and pg.nccl.takes(tensor):
        pg.nccl.broadcast(tensor._data, src)
        tensor._vc[0] += 1
        return _done(async_op)
    if pg.comm is None or pg.size() == 1:
        return Work() if async_op else None
    host, own = _host(tensor)

    def finish():
        _store(tensor, host, own)

    if async_op:
        return Work([pg.comm.Ibcast(host, root=src)], finish)
    pg.comm.Bcast(host, root=src)
    finish()
    return None


def _check_same(tensors, like, op):
    for t in tensors:
        _check_tensor(t, op, "every tensor of the list")
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise ValueError(f"{op}: every tensor of the list must have the input's shape "
                             f"{list(like.shape)} and dtype {like.dtype}, got {list(t.shape)} {t.dtype}")


def _done(async_op):
    return Work() if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] = rank r's tensor, on every rank (len(tensor_list) == world size)."""
    _check_tensor(tensor, "all_gather")
    pg = _group(group, "all_gather")
    if pg is None:
        return None
    if len(tensor_list) != pg.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of {pg.size()}")
    _check_same(tensor_list, tensor, "all_gather")
    host, _ = _host(tensor)
    if pg.comm is None or pg.size() == 1:
        gathered = host[None]
    else:
        gathered = np.empty((pg.size(),) + host.shape, dtype=host.dtype)
        pg.comm.Allgather(host, gathered)
    for out, part in zip(tensor_list, gathered):
        _store(out, np.ascontiguousarray(part), False)
    return _done(async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output = the ranks' inputs concatenated along dim 0 (or stacked: output of shape [world, *input])."""
    _check_tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    _check_tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    pg = _group(group, "all_gather_into_tensor")
    if pg is None:
        return None
    if output_tensor.numel() != pg.size() * input_tensor.numel() or output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor ({list(output_tensor.shape)}, "
                         f"{output_tensor.dtype}) must hold world size {pg.size()} x input_tensor "
                         f"({list(input_tensor.shape)}, {input_tensor.dtype})")
    if pg.nccl is not None and pg.nccl.takes(input_tensor, output_tensor):
        pg.nccl.all_gather(input_tensor._data, output_tensor._data)
        output_tensor._vc[0] += 1
        return _done(async_op)
    host, _ = _host(input_tensor)
    if pg.comm is None or pg.size() == 1:
        gathered = host.copy()
    else:
        gathered = np.empty(pg.size() * host.size, dtype=host.dtype)
        pg.comm.Allgather(host.reshape(-1), gathered)
    _store(output_tensor, gathered, False)
    return _done(async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce input across ranks (op), then rank r keeps the r-th of world-size equal chunks (dim 0)."""
    _check_tensor(input, "reduce_scatter_tensor", "input")
    _check_tensor(output, "reduce_scatter_tensor", "output")
    _check_op(op, "reduce_scatter_tensor")
    pg = _group(group, "reduce_scatter_tensor")
    if pg is None:
        return None
    if input.numel() != pg.size() * output.numel() or output.dtype != input.dtype:
        raise ValueError(f"reduce_scatter_tensor: input ({list(input.shape)}, {input.dtype}) must hold "
                         f"world size {pg.size()} x output ({list(output.shape)}, {output.dtype})")
    if pg.nccl is not None and pg.nccl.takes(input, output):
        pg.nccl.reduce_scatter(input._data, output._data, op)
        output._vc[0] += 1
        return _done(async_op)
    host, _ = _host(input)
    buf, back = _mpi_view(host.reshape(-1))
    if pg.comm is None or pg.size() == 1:
        result = buf.copy()
    else:
        MPI = _mpi()
        result = np.empty(output.numel(), dtype=buf.dtype)
        pg.comm.Reduce_scatter_block(buf, result, op=_mpi_op(MPI, op))
    if op == "avg":
        _divide(result, pg.size())
    _store(output, back(result) if back is not None else result, False)
    return _done(async_op)


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """On dst, gather_list[r] = rank r's tensor; other ranks pass gather_list=None."""
    _check_tensor(tensor, "gather")
    pg = _group(group, "gather")
    if pg is None:
        return None
    dst = _root(pg, "gather", "dst", dst, group_dst)
    host, _ = _host(tensor)
    is_dst = pg.rank() == dst
    if is_dst:
        if gather_list is None or len(gather_list) != pg.size():
            raise ValueError(f"gather: rank {dst} (dst) needs a gather_list of {pg.size()} tensors")
        _check_same(gather_list, tensor, "gather")
    elif gather_list:
        raise ValueError(f"gather: only dst (rank {dst}) passes a gather_list; rank {pg.rank()} got one")
    if pg.comm is None or pg.size() == 1:
        gathered = host[None]
    else:
        gathered = np.empty((pg.size(),) + host.shape, dtype=host.dtype) if is_dst else None
        pg.comm.Gather(host, gathered, root=dst)
    if is_dst:
        for out, part in zip(gather_list, gathered):
            _store(out, np.ascontiguousarray(part), False)
    return _done(async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank r's tensor = src's scatter_list[r]; other ranks pass scatter_list=None."""
    _check_tensor(tensor, "scatter")
    pg = _group(group, "scatter")
    if pg is None:
        return None
    src = _root(pg, "scatter", "src", src, group_src)
    is_src = pg.rank() == src
    if is_src:
        if scatter_list is None or len(scatter_list) != pg.size():
            raise ValueError(f"scatter: rank {src} (src) needs a scatter_list of {pg.size()} tensors")
        _check_same(scatter_list, tensor, "scatter")
        send = np.stack([_host(t)[0] for t in scatter_list])
    elif scatter_list:
        raise ValueError(f"scatter: only src (rank {src}) passes a scatter_list; rank {pg.rank()} got one")
    if pg.comm is None or pg.size() == 1:
        received = send[0].copy()
    else:
        host, _ = _host(tensor)
        received = np.empty_like(host)
        pg.comm.Scatter(send if is_src else None, received, root=src)
    _store(tensor, received, False)
    return _done(async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached the barrier."""
    pg = _group(group, "barrier")
    if pg is None:
        return None
    if pg.comm is not None and pg.size() > 1:
        pg.comm.Barrier()
    return _done(async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce tensor across ranks (op) into dst's tensor; the other ranks' tensors are left as they were."""
    _check_tensor(tensor, "reduce")
    _check_op(op, "reduce")
    pg = _group(group, "reduce")
    if pg is None:
        return None
    dst = _root(pg, "reduce", "dst", dst, group_dst)
    if pg.nccl is not None and pg.nccl.takes(tensor):
        pg.nccl.reduce(tensor._data, op, dst)
        tensor._vc[0] += 1
        return _done(async_op)
    if pg.comm is None or pg.size() == 1:
        return _done(async_op)
    MPI = _mpi()
    host, own = _host(tensor)
    buf, back = _mpi_view(host)
    is_dst = pg.rank() == dst
    # MPI reads the other ranks' buffers only: they keep their values
    send, recv = (MPI.IN_PLACE, buf) if is_dst else (buf, None)

    def finish():
        if is_dst:
            _finish_reduction(tensor, host, own, buf, back, op, pg.size())

    if async_op:
        return Work([pg.comm.Ireduce(send, recv, op=_mpi_op(MPI, op), root=dst)], finish)
    pg.comm.Reduce(send, recv, op=_mpi_op(MPI, op), root=dst)
    finish()
    return None


def _bytes(host):
    """The array's bytes, flat (all_to_all moves bytes, so every dtype goes, float16 and bool too)."""
    return np.ascontiguousarray(host).reshape(-1).view(np.uint8)


def _alltoallv(pg, op, send, send_counts, recv_counts, finish, async_op):
    """Rank r sends send_counts[j] bytes of `send` (in rank order) to rank j and receives recv_counts[i]
    bytes from rank i into a new buffer, which finish(received) stores."""
    def displacements(counts):
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64).tolist()

    received = np.empty(sum(recv_counts), dtype=np.uint8)
    if pg.comm is None or pg.size() == 1:
        if send_counts != recv_counts:
            raise ValueError(f"{op}: in a group of one the output must have the input's size "
                             f"({recv_counts[0]} bytes for {send_counts[0]})")
        received[...] = send
        finish(received)
        return _done(async_op)
    MPI = _mpi()
    send_spec = [send, (list(send_counts), displacements(send_counts)), MPI.BYTE]
    recv_spec = [received, (list(recv_counts), displacements(recv_counts)), MPI.BYTE]
    if async_op:
        return Work([pg.comm.Ialltoallv(send_spec, recv_spec)], lambda: finish(received))
    pg.comm.Alltoallv(send_spec, recv_spec)
    finish(received)
    return None


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank r sends input_tensor_list[j] to rank j, which receives it into its output_tensor_list[r]
    (sizes may differ between pairs; one dtype throughout). cuda tensors go through the host over MPI."""
    op = "all_to_all"
    pg = _group(group, op)
    if pg is None:
        return None
    lists = (("output_tensor_list", output_tensor_list), ("input_tensor_list", input_tensor_list))
    for name, tensors in lists:
        if len(tensors) != pg.size():
            raise ValueError(f"{op}: {name} has {len(tensors)} tensors for a group of {pg.size()}")
        for t in tensors:
            _check_tensor(t, op, f"every tensor of {name}")
    dtypes = {t.dtype for t in list(output_tensor_list) + list(input_tensor_list)}
    if len(dtypes) > 1:
        raise ValueError(f"{op}: every input and output tensor must have one dtype, got "
                         f"{sorted(str(d) for d in dtypes)}")
    send = np.concatenate([_bytes(_host(t)[0]) for t in input_tensor_list])
    send_counts = [t._data.nbytes for t in input_tensor_list]
    recv_counts = [t._data.nbytes for t in output_tensor_list]

    def finish(received):
        offset = 0
        for t, n in zip(output_tensor_list, recv_counts):
            part = received[offset:offset + n].view(t._data.dtype)
            _store(t, part.reshape(t._data.shape), False)
            offset += n

    return _alltoallv(pg, op, send, send_counts, recv_counts, finish, async_op)


def _splits(sizes, tensor, world, op, name):
    """The dim-0 split sizes of `tensor` among the ranks: equal parts when sizes is None."""
    if tensor.dim() == 0:
        raise ValueError(f"{op}: {name} must have at least one dimension, got a 0-d tensor")
    rows = tensor.shape[0]
    if sizes is None or len(sizes) == 0:
        if rows % world:
            raise ValueError(f"{op}: {name} of shape {list(tensor.shape)}: dim 0 ({rows}) must divide by the "
                             f"group size {world}, or pass {name.split('_')[0]}_split_sizes")
        return [rows // world] * world
    sizes = [int(n) for n in sizes]
    if len(sizes) != world or sum(sizes) != rows or min(sizes) < 0:
        raise ValueError(f"{op}: {name.split('_')[0]}_split_sizes {sizes} must hold {world} sizes (one per "
                         f"rank) summing to dim 0 of {name} of shape {list(tensor.shape)}")
    return sizes


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """Split input along dim 0 (input_split_sizes, or equal parts) and send part j to rank j; output is
    the parts received from ranks 0, 1, ... concatenated (output_split_sizes rows from each)."""
    op = "all_to_all_single"
    _check_tensor(input, op, "input")
    _check_tensor(output, op, "output")
    pg = _group(group, op)
    if pg is None:
        return None
    if output.dtype != input.dtype or tuple(output.shape[1:]) != tuple(input.shape[1:]):
        raise ValueError(f"{op}: output ({list(output.shape)}, {output.dtype}) and input "
                         f"({list(input.shape)}, {input.dtype}) must have one dtype and the same sizes "
                         "after dim 0")
    row_bytes = input._data.itemsize * int(np.prod(input.shape[1:], dtype=np.int64))
    send_counts = [n * row_bytes for n in _splits(input_split_sizes, input, pg.size(), op, "input")]
    recv_counts = [n * row_bytes for n in _splits(output_split_sizes, output, pg.size(), op, "output")]

    def finish(received):
        _store(output, received.view(output._data.dtype).reshape(output._data.shape), False)

    return _alltoallv(pg, op, _bytes(_host(input)[0]), send_counts, recv_counts, finish, async_op)
