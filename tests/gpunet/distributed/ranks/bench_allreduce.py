"""Benchmark (not a test): all-reduce of N float32 values between the ranks, median of R runs.

    python -m gpunet.distributed.run -n 2 tests/gpunet/distributed/ranks/bench_allreduce.py [N] [R]

Prints, on rank 0: mpi4py's Allreduce on a NumPy array (the reference, same run), dist.all_reduce on
a gpunet tensor in one call, and in pieces of <= 25 MiB (DDP's bucket size); DDP's gradient averaging
of four parameters holding N values (pack into 25 MiB buckets, all-reduce, divide, unpack).
"""
import statistics
import sys
import time

import numpy as np
from mpi4py import MPI

import gpunet as torch
import gpunet.distributed as dist
import gpunet.nn as nn
from gpunet.nn.parallel import DistributedDataParallel


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(n, repeats):
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    array = np.ones(n, dtype=np.float32)
    tensor = torch.ones(n)
    piece = 25 * 2 ** 20 // 4
    chunks = [tensor[i:i + piece] for i in range(0, n, piece)]
    params = nn.ParameterList([nn.Parameter(torch.ones(n // 4)) for _ in range(4)])
    for p in params:
        p.grad = torch.ones_like(p)
    ddp = DistributedDataParallel(params)
    results = {
        "mpi4py Allreduce (one call)": median_ms(lambda: comm.Allreduce(MPI.IN_PLACE, array), repeats),
        "dist.all_reduce (one call)": median_ms(lambda: dist.all_reduce(tensor), repeats),
        "dist.all_reduce (25 MiB pieces)": median_ms(lambda: [dist.all_reduce(c) for c in chunks], repeats),
        "DDP gradient averaging": median_ms(ddp._reduce_gradients, repeats),
    }
    if dist.get_rank() == 0:
        mb = n * 4 / 1e6
        print(f"{dist.get_world_size()} ranks, {n} float32 ({mb:.1f} MB), median of {repeats}:")
        for name, ms in results.items():
            print(f"  {name:34s} {ms:8.2f} ms  {mb / ms:6.2f} GB/s (algorithm bandwidth)")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11_700_000, int(sys.argv[2]) if len(sys.argv) > 2 else 9)
