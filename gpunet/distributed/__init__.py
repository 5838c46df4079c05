"""gpunet.distributed: data-parallel training on MPI (torch.distributed's process-group API).

    import gpunet.distributed as dist
    dist.init_process_group("mpi")          # 'gloo' is an alias on CPU; ranks come from mpiexec
    dist.all_reduce(t, op=dist.ReduceOp.SUM)

Start N processes with `python -m gpunet.distributed.run -n N train.py` (or `mpiexec -n N python
train.py`); a plain `python train.py` is a world of one that needs no MPI. mpi4py is imported only
when a launcher started more than one process (`pip install "gpunet[distributed]"`).
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.distributed.collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor, all_reduce,
                                            all_to_all, all_to_all_single, barrier, broadcast, gather, reduce,
                                            reduce_scatter_tensor, scatter)
from gpunet.distributed.process_group import (Backend, GroupMember, ProcessGroup, destroy_process_group,
                                              get_backend, get_rank, get_world_size, group,
                                              init_process_group, is_available, is_gloo_available,
                                              is_initialized, is_mpi_available, is_nccl_available,
                                              is_torchelastic_launched, new_group)

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
    "all_reduce", "all_to_all", "all_to_all_single", "barrier", "broadcast", "destroy_process_group",
    "gather", "get_backend", "get_rank", "get_world_size", "group", "init_process_group", "is_available",
    "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
    "is_torchelastic_launched", "new_group", "reduce", "reduce_scatter_tensor", "scatter",
]

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
