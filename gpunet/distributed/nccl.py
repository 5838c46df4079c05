"""The NCCL backend: collectives on cuda tensors between GPUs, through CuPy's NCCL bindings.

MPI starts the ranks and carries NCCL's unique id from rank 0 to the others (the pip MPIs are not
CUDA-aware, so device memory never goes to MPI). Each rank takes the GPU of its local rank (the node-local
index the MPI launcher sets) before the communicator is made. NCCL comes from the `nvidia-nccl-cu12` wheel;
it needs one real GPU per rank, so the simulated cuda device (GPUNET_CUDA_SIM=1) is refused.

A collective is enqueued on CuPy's current stream and returns at once, like PyTorch's: the host never waits.
Untested on real hardware so far (no GPU was lent); `tests/gpunet/distributed/test_nccl.py` holds the
gpu-marked checks that prove it.
"""
import os

from gpunet.backend import cuda as cuda_backend

# node-local rank as the launchers announce it: MPICH/Hydra, Open MPI, Slurm, PyTorch-style launchers
_LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK")
_OPS = {"sum": "NCCL_SUM", "product": "NCCL_PROD", "min": "NCCL_MIN", "max": "NCCL_MAX"}
_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
           "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


def local_rank():
    for name in _LOCAL_RANK_VARS:
        if os.environ.get(name):
            return int(os.environ[name])
    return 0


def _nccl_module():
    if cuda_backend.SIMULATOR:
        raise RuntimeError("init_process_group(backend='nccl'): NCCL needs a real GPU per rank; the cuda "
                           "device here is Numba's simulator (GPUNET_CUDA_SIM=1). Use backend='mpi' (or "
                           "'gloo'): it runs collectives on cuda tensors through the host.")
    cuda_backend.require()
    try:
        from cupy.cuda import nccl
    except ImportError as exc:
        raise RuntimeError(f"init_process_group(backend='nccl'): CuPy's NCCL bindings are unavailable "
                           f"({exc}); install NCCL with: pip install nvidia-nccl-cu12 (and CuPy: "
                           f"pip install \"gpunet[cuda]\")") from exc
    if not nccl.available:
        raise RuntimeError("init_process_group(backend='nccl'): CuPy finds no NCCL library; install it "
                           "with: pip install nvidia-nccl-cu12")
    return nccl


class NcclComm:
    """One rank's NCCL communicator and the collectives gpunet runs on it."""

    def __init__(self, rank, size, mpi_comm):
        """mpi_comm: the MPI communicator of the world (None only in a world of one)."""
        self.nccl = _nccl_module()
        self.rank = rank
        self.size = size
        cupy = cuda_backend.xp
        self.stream = cupy.cuda.get_current_stream
        # one GPU per rank on each host, chosen by the local rank, before NCCL binds to the current device
        cupy.cuda.Device(local_rank() % cupy.cuda.runtime.getDeviceCount()).use()
        uid = self.nccl.get_unique_id() if rank == 0 else None
        if size > 1:
            uid = mpi_comm.bcast(uid, root=0)
        self.comm = self.nccl.NcclCommunicator(size, uid, rank)

    def _op(self, op):
        return getattr(self.nccl, _OPS["sum" if op == "avg" else op])

    def _args(self, array):
        return array.data.ptr, array.size, getattr(self.nccl, _DTYPES[array.dtype.name]), self.stream().ptr

    def _average(self, array):
        # a SUM then a division on the same stream (NCCL_AVG needs NCCL >= 2.10; this works with any)
        if array.dtype.kind == "f":
            array /= self.size
        else:
            array //= self.size

    def all_reduce(self, array, op):
        ptr, count, dtype, stream = self._args(array)
        self.comm.allReduce(ptr, ptr, count, dtype, self._op(op), stream)
        if op == "avg":
            self._average(array)

    def reduce(self, array, op, root):
        ptr, count, dtype, stream = self._args(array)
        self.comm.reduce(ptr, ptr, count, dtype, self._op(op), root, stream)
        if op == "avg" and self.rank == root:  # only root holds the sum
            self._average(array)

    def broadcast(self, array, root):
        ptr, count, dtype, stream = self._args(array)
        self.comm.bcast(ptr, count, dtype, root, stream)

    def all_gather(self, send, recv):
        ptr, count, dtype, stream = self._args(send)
        self.comm.allGather(ptr, recv.data.ptr, count, dtype, stream)

    def reduce_scatter(self, send, recv, op):
        ptr, count, dtype, stream = self._args(recv)
        self.comm.reduceScatter(send.data.ptr, ptr, count, dtype, self._op(op), stream)
        if op == "avg":
            self._average(recv)

    @staticmethod
    def takes(*tensors):
        """Whether NCCL runs this collective: contiguous cuda tensors of a dtype NCCL has (others go
        through the host over MPI)."""
        return all(t._device.type == "cuda" and t._data.dtype.name in _DTYPES and t._data.flags.c_contiguous
                   for t in tensors)
