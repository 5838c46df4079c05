"""Rank program: every collective over dtypes and shapes (empty, 0-d, strided), async handles, and
cuda tensors through the host when GPUNET_CUDA_SIM=1. Writes OUT_DIR/rank<r>.txt: "ok" or the failures.

    python -m gpunet.distributed.run -n N collectives.py OUT_DIR
"""
import os
import sys
import traceback

import numpy as np

import gpunet as torch
import gpunet.distributed as dist

DTYPES = [torch.float32, torch.float64, torch.int32, torch.int64, torch.float16]
SHAPES = [(0,), (), (3,), (2, 3)]


def value(rank, shape, dtype, device="cpu"):
    base = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) + rank + 1
    return torch.tensor(base, dtype=dtype, device=device)


def checks(rank, world, device):
    ranks = [value(r, (2, 3), torch.float64).numpy() for r in range(world)]
    for dtype in DTYPES:
        for shape in SHAPES:
            per_rank = [value(r, shape, dtype).numpy() for r in range(world)]
            expected = {"sum": sum(per_rank), "max": np.max(per_rank, axis=0),
                        "min": np.min(per_rank, axis=0), "product": np.prod(per_rank, axis=0)}
            for op, want in expected.items():
                t = value(rank, shape, dtype, device)
                dist.all_reduce(t, op=op)
                assert t.dtype == dtype and tuple(t.shape) == shape, (op, dtype, shape, t.dtype, t.shape)
                np.testing.assert_array_equal(t.cpu().numpy(), want.astype(t.cpu().numpy().dtype),
                                              err_msg=f"{op} {dtype} {shape} {device}")
            t = value(rank, shape, dtype, device)
            dist.broadcast(t, src=world - 1)
            np.testing.assert_array_equal(t.cpu().numpy(), per_rank[-1], err_msg=f"broadcast {dtype} {shape}")
    # AVG, async handles, a strided tensor
    t = value(rank, (2, 3), torch.float64, device)
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    work.wait()
    assert work.is_completed()
    np.testing.assert_allclose(t.cpu().numpy(), sum(ranks) / world, rtol=1e-15)
    strided = value(rank, (3, 2), torch.float64, device).t()
    dist.broadcast(strided, src=0, async_op=True).wait()
    np.testing.assert_array_equal(strided.cpu().numpy(), value(0, (3, 2), torch.float64).numpy().T)
    flags = torch.tensor([rank == 0, True, False], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    assert flags.tolist() == [True, True, False], flags
    # all_gather, all_gather_into_tensor, reduce_scatter_tensor, gather, scatter
    outs = [torch.zeros(2, 3, dtype=torch.float64, device=device) for _ in range(world)]
    dist.all_gather(outs, value(rank, (2, 3), torch.float64, device), async_op=True).wait()
    for r in range(world):
        np.testing.assert_array_equal(outs[r].cpu().numpy(), ranks[r])
    cat = torch.zeros(world * 2, 3, dtype=torch.float64, device=device)
    dist.all_gather_into_tensor(cat, value(rank, (2, 3), torch.float64, device))
    np.testing.assert_array_equal(cat.cpu().numpy(), np.concatenate(ranks))
    out = torch.zeros(2, dtype=torch.float32, device=device)
    big = torch.arange(world * 2, dtype=torch.float32, device=device) * (rank + 1)
    dist.reduce_scatter_tensor(out, big, op=dist.ReduceOp.SUM)
    factor = sum(range(1, world + 1))
    np.testing.assert_array_equal(out.cpu().numpy(), np.arange(rank * 2, rank * 2 + 2) * factor)
    gathered = None
    if rank == 0:
        gathered = [torch.zeros(2, 3, dtype=torch.float64, device=device) for _ in range(world)]
    dist.gather(value(rank, (2, 3), torch.float64, device), gathered, dst=0)
    if rank == 0:
        for r in range(world):
            np.testing.assert_array_equal(gathered[r].cpu().numpy(), ranks[r])
    mine = torch.zeros(2, 3, dtype=torch.float64, device=device)
    pieces = [value(r, (2, 3), torch.float64, device) for r in range(world)] if rank == 1 else None
    dist.scatter(mine, pieces, src=1)
    np.testing.assert_array_equal(mine.cpu().numpy(), ranks[rank])
    dist.barrier()


def main(out_dir):
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    failures = []
    devices = ["cpu", "cuda"] if os.environ.get("GPUNET_CUDA_SIM") == "1" else ["cpu"]
    for device in devices:
        try:
            checks(rank, world, device)
        except Exception:
            failures.append(f"{device}: {traceback.format_exc()}")
    with open(f"{out_dir}/rank{rank}.txt", "w") as f:
        f.write("\n".join(failures) or "ok")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
