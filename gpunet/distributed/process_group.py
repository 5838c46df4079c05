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
    """The world or a group of it (new_group): this process's rank in it, its size, the global ranks of its
    members and its MPI communicator (None in a world of one without MPI)."""

    def __init__(self, backend, rank, size, comm, ranks=None):
        self.backend = backend
        self._rank = rank
        self._size = size
        self.comm = comm
        self.ranks = list(range(size)) if ranks is None else list(ranks)  # member i's global rank
        self.nccl = None  # the NCCL communicator (gpunet.distributed.nccl) when backend is 'nccl'

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def group_rank(self, global_rank, op, name):
        """The rank in this group of the process with global rank `global_rank` (src= / dst= arguments)."""
        if global_rank not in self.ranks:
            raise ValueError(f"{op}: {name}={global_rank} is not a rank of the group (global ranks "
                             f"{self.ranks})")
        return self.ranks.index(global_rank)

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, rank={self._rank}, size={self._size})"


class _NonGroupMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class _GroupNames:
    """dist.group.WORLD: the default group; dist.group.NON_GROUP_MEMBER: what new_group returns to the
    processes it leaves out."""

    NON_GROUP_MEMBER = _NonGroupMember()

    @property
    def WORLD(self):
        return _state[0]


group = GroupMember = _GroupNames()
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
    """The group to work on: the default one for None, else `group` (a ProcessGroup or
    NON_GROUP_MEMBER, which the callers check for)."""
    pg = _state[0]
    if pg is None:
        raise RuntimeError(NOT_INITIALIZED)
    if group is None:
        return pg
    if not isinstance(group, (ProcessGroup, _NonGroupMember)):
        raise TypeError(f"group must be a ProcessGroup from dist.new_group (or None for the default group), "
                        f"got {type(group).__name__}")
    return group


def in_group(group):
    return not isinstance(group, _NonGroupMember)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of the processes with global ranks `ranks` (all of them for None), ranked in sorted order.
    Every process of the default group must call it, in the same order; those not in `ranks` get
    GroupMember.NON_GROUP_MEMBER (collectives on it do nothing, get_rank gives -1)."""
    world = _default_group()
    ranks = list(range(world.size())) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks list must not contain duplicate entries, got {ranks}")
    bad = [r for r in ranks if not 0 <= r < world.size()]
    if bad:
        raise ValueError(f"new_group: ranks {bad} are not ranks of a world of {world.size()}")
    member = world.rank() in ranks
    comm = None
    if world.comm is not None:  # collective over the world: non-members take part too
        MPI = _import_mpi()
        comm = world.comm.Split(0 if member else MPI.UNDEFINED, ranks.index(world.rank()) if member else 0)
    if not member:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(world.backend, ranks.index(world.rank()), len(ranks), comm, ranks)
    if world.nccl is not None:
        from gpunet.distributed.nccl import NcclComm
        pg.nccl = NcclComm(pg.rank(), pg.size(), comm)
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
    """This process's rank in the group; -1 when it is not a member."""
    pg = _default_group(group)
    return pg.rank() if in_group(pg) else -1


def get_world_size(group=None):
    """The group's size; -1 when this process is not a member."""
    pg = _default_group(group)
    return pg.size() if in_group(pg) else -1


def get_backend(group=None):
    pg = _default_group(group)
    if not in_group(pg):
        raise ValueError("get_backend: this process is not a member of the group")
    return pg.backend


def destroy_process_group(group=None):
    """Leave the default group (MPI itself is finalized by mpi4py at exit), or free a new_group's
    communicator."""
    pg = _default_group(group)
    if group is None or pg is _state[0]:
        _state[0] = None
    elif in_group(pg) and pg.comm is not None:
        pg.comm.Free()
        pg.comm = None
