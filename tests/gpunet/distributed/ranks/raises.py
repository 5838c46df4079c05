"""Rank program: rank 1 raises while rank 0 waits in a collective; the job must fail, not hang."""
import gpunet as torch
import gpunet.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("rank 1 fails on purpose")
dist.all_reduce(torch.ones(3))
