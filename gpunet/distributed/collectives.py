"""Collectives on gpunet tensors, in place, over MPI (mpi4py) on the tensors' host arrays, or over NCCL
(gpunet.distributed.nccl) for contiguous cuda tensors when the backend is 'nccl'.

CPU tensors hand their NumPy arrays to MPI directly (a contiguous copy when they are strided). The
pip MPIs are not CUDA-aware, so a cuda tensor is copied to the host with the backend's to_host, reduced
there and copied back with from_host. In a world of one every collective is an identity (no MPI).

async_op=True: all_reduce and broadcast of a contiguous CPU tensor start MPI's non-blocking
Iallreduce/Ibcast and Work.wait() completes them; every other collective completes before returning
a Work whose wait() returns at once.
"""
import numpy as np

from gpunet.backend import CPU
from gpunet.distributed.process_group import _default_group
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


def _mpi():
    from mpi4py import MPI  # present: the group's comm came from it
    return MPI


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce tensor across ranks (op) and leave the result in every rank's tensor."""
    _check_tensor(tensor, "all_reduce")
    _check_op(op, "all_reduce")
    pg = _default_group(group)
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
        if op == "avg":
            _divide(buf, pg.size())
        result = back(buf) if back is not None else buf
        if result is not host:
            host[...] = result
        _store(tensor, host, own)

    if async_op:
        request = pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=_mpi_op(MPI, op))
        return Work([request], finish)
    pg.comm.Allreduce(MPI.IN_PLACE, buf, op=_mpi_op(MPI, op))
    finish()
    return None


def broadcast(tensor, src=0, group=None, async_op=False, group_src=None):
    """Copy src's tensor into every rank's tensor."""
    _check_tensor(tensor, "broadcast")
    pg = _default_group(group)
    src = src if group_src is None else group_src
    if not 0 <= src < pg.size():
        raise ValueError(f"broadcast: src={src} is not a rank of a world of {pg.size()}")
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
    pg = _default_group(group)
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
    pg = _default_group(group)
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
    pg = _default_group(group)
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


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """On dst, gather_list[r] = rank r's tensor; other ranks pass gather_list=None."""
    _check_tensor(tensor, "gather")
    pg = _default_group(group)
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


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's tensor = src's scatter_list[r]; other ranks pass scatter_list=None."""
    _check_tensor(tensor, "scatter")
    pg = _default_group(group)
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
    pg = _default_group(group)
    if pg.comm is not None and pg.size() > 1:
        pg.comm.Barrier()
    return _done(async_op)
