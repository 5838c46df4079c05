"""The default process group: which process this is and how many there are, read from MPI.

mpi4py is imported only by init_process_group, and only when the process was started by an MPI
launcher (mpiexec sets PMI_* / OMPI_* variables). A plain `python train.py` is a world of one that
needs no MPI at all, so ported programs run unchanged on one process.
"""
import os

# variables an MPI launcher sets in every rank: MPICH / Intel MPI (Hydra), Open MPI, PMIx, Slurm's PMI
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
INSTALL_HINT = 'pip install "gpunet[distributed]"  (mpi4py and the mpich wheel)'
NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                   "init_process_group.")
BACKENDS = ("mpi", "gloo", "nccl")


class Backend(str):
    """A backend name: Backend.MPI == 'mpi' (gloo is run by the mpi backend on CPU)."""

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"

    def __new__(cls, name):
        name = str(name).lower()
        if name not in BACKENDS:
            raise ValueError(f"Invalid backend: {name!r}; gpunet has {', '.join(BACKENDS)}")
        return super().__new__(cls, name)


class ProcessGroup:
    """The world: rank, size and the MPI communicator (None in a world of one without MPI)."""

    def __init__(self, backend, rank, size, comm):
        self.backend = backend
        self._rank = rank
        self._size = size
        self.comm = comm
        self.nccl = None  # the NCCL communicator (gpunet.distributed.nccl) when backend is 'nccl'

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, rank={self._rank}, size={self._size})"


class _GroupNames:
    """dist.group.WORLD: the default group (the only one gpunet has)."""

    @property
    def WORLD(self):
        return _state[0]


group = _GroupNames()
_state = [None]  # the default ProcessGroup once initialized


def launcher_world_size():
    """The world size an MPI launcher announced in the environment, or None without a launcher."""
    for name in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(name)
        if value:
            return int(value)
    return None


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the default process group. Ranks come from MPI (start with `python -m gpunet.distributed.run
    -n N script.py` or `mpiexec -n N python script.py`); init_method/store/timeout are accepted and
    unused. backend 'gloo' is an alias of 'mpi'; 'nccl' runs collectives on cuda tensors through NCCL
    (one real GPU per rank, chosen by local rank; MPI shares NCCL's id), cpu tensors still over MPI."""
    if _state[0] is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    backend = Backend("mpi" if backend is None else backend)
    announced = launcher_world_size()
    MPI = _import_mpi() if announced is not None else None
    if MPI is None:
        if announced not in (None, 1) or world_size not in (-1, 1):
            size = announced if announced is not None else world_size
            raise RuntimeError(f"init_process_group: a world of {size} processes needs mpi4py and an MPI "
                               f"library; install them with: {INSTALL_HINT}")
        if rank not in (-1, 0):
            raise ValueError(f"init_process_group: rank={rank} in a world of one process (started without "
                             "mpiexec); launch with python -m gpunet.distributed.run -n N script.py")
        pg = ProcessGroup(str(backend), 0, 1, None)
    else:
        comm = MPI.COMM_WORLD
        pg = ProcessGroup(str(backend), comm.Get_rank(), comm.Get_size(), comm)
        if world_size not in (-1, pg.size()):
            raise ValueError(f"init_process_group: world_size={world_size}, but MPI started "
                             f"{pg.size()} processes")
        if rank not in (-1, pg.rank()):
            raise ValueError(f"init_process_group: rank={rank}, but MPI says this process is rank "
                             f"{pg.rank()}")
    if backend == "nccl":
        from gpunet.distributed.nccl import NcclComm
        pg.nccl = NcclComm(pg.rank(), pg.size(), pg.comm)
    _state[0] = pg
    return None


def _default_group(group=None):
    pg = _state[0]
    if pg is None:
        raise RuntimeError(NOT_INITIALIZED)
    if group is not None and group is not pg:
        raise ValueError("gpunet.distributed has only the default group (group=None or group.WORLD)")
    return pg


def is_available():
    """True: the package is always present (mpi4py is needed only for more than one process)."""
    return True


def is_initialized():
    return _state[0] is not None


def is_mpi_available():
    return _import_mpi() is not None


def is_gloo_available():
    """gloo runs on the mpi backend in gpunet."""
    return True


def is_nccl_available():
    """Whether CuPy's NCCL bindings load (a GPU per rank is still needed to use them)."""
    try:
        from cupy.cuda import nccl
    except Exception:  # no CuPy, or no CUDA libraries for it
        return False
    return bool(nccl.available)


def is_torchelastic_launched():
    return False


def get_rank(group=None):
    return _default_group(group).rank()


def get_world_size(group=None):
    return _default_group(group).size()


def get_backend(group=None):
    return _default_group(group).backend


def destroy_process_group(group=None):
    """Leave the default group (MPI itself is finalized by mpi4py at exit)."""
    _default_group(group)
    _state[0] = None
