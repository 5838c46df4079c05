"""Rank program: every collective over dtypes and shapes (empty, 0-d, strided), async handles, groups
from new_group, and cuda tensors through the host when GPUNET_CUDA_SIM=1. Writes OUT_DIR/rank<r>.txt:
"ok" or the failures.

    python -m gpunet.distributed.run -n N collectives.py OUT_DIR
"""
import os
import sys
import traceback
import warnings

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


def check_reduce(rank, world, device):
    dst = world - 1
    for dtype in DTYPES:
        for shape in SHAPES:
            per_rank = [value(r, shape, dtype).numpy() for r in range(world)]
            expected = {"sum": sum(per_rank), "max": np.max(per_rank, axis=0),
                        "product": np.prod(per_rank, axis=0)}
            for op, want in expected.items():
                t = value(rank, shape, dtype, device)
                dist.reduce(t, dst=dst, op=op)
                assert t.dtype == dtype and tuple(t.shape) == shape, (op, dtype, shape, t.dtype, t.shape)
                mine = want if rank == dst else per_rank[rank]  # the other ranks keep their values
                np.testing.assert_array_equal(t.cpu().numpy(), mine.astype(t.cpu().numpy().dtype),
                                              err_msg=f"reduce {op} {dtype} {shape} {device}")
    t = value(rank, (2, 3), torch.float64, device)
    dist.reduce(t, dst=0, op=dist.ReduceOp.AVG, async_op=True).wait()
    if rank == 0:
        want = sum(value(r, (2, 3), torch.float64).numpy() for r in range(world)) / world
        np.testing.assert_allclose(t.cpu().numpy(), want, rtol=1e-15)


def sent(src, dst, dtype, device, cols=None):
    """What rank src sends rank dst in the all_to_all checks: src + dst rows, values naming both."""
    rows = src + dst
    base = np.arange(rows * (cols or 1), dtype=np.float64) + 100 * src + 10 * dst
    return torch.tensor(base.reshape((rows, cols) if cols else (rows,)), dtype=dtype, device=device)


def check_all_to_all(rank, world, device):
    for dtype in DTYPES + [torch.bool]:
        for cols in (None, 2):
            inputs = [sent(rank, j, dtype, device, cols) for j in range(world)]  # rank 0 sends itself nothing
            outputs = [torch.zeros(*sent(i, rank, dtype, "cpu", cols).shape, dtype=dtype, device=device)
                       for i in range(world)]
            work = dist.all_to_all(outputs, inputs, async_op=cols is not None)
            if work is not None:
                work.wait()
            for i in range(world):
                want = sent(i, rank, dtype, "cpu", cols).numpy()
                np.testing.assert_array_equal(outputs[i].cpu().numpy(), want,
                                              err_msg=f"all_to_all {dtype} from rank {i} {device}")
    for dtype in DTYPES:
        # equal parts: rank r's rows [2j, 2j + 2) go to rank j
        x = torch.tensor(np.arange(world * 6).reshape(world * 2, 3) + 100 * rank, dtype=dtype, device=device)
        out = torch.zeros(world * 2, 3, dtype=dtype, device=device)
        dist.all_to_all_single(out, x)
        want = np.concatenate([np.arange(world * 6).reshape(world * 2, 3)[2 * rank:2 * rank + 2] + 100 * i
                               for i in range(world)])
        np.testing.assert_array_equal(out.cpu().numpy(), want.astype(out.cpu().numpy().dtype))
        # uneven parts, some empty: rank r sends j rows to rank j (rank 0 gets nothing)
        x = torch.tensor(np.arange(sum(range(world))) + 100 * rank, dtype=dtype, device=device)
        out = torch.zeros(rank * world, dtype=dtype, device=device)
        work = dist.all_to_all_single(out, x, output_split_sizes=[rank] * world,
                                      input_split_sizes=list(range(world)), async_op=True)
        work.wait()
        start = sum(range(rank))
        want = np.concatenate([np.arange(start, start + rank) + 100 * i for i in range(world)])
        np.testing.assert_array_equal(out.cpu().numpy(), want.astype(out.cpu().numpy().dtype),
                                      err_msg=f"all_to_all_single uneven {dtype} {device}")


def check_new_group(rank, world, device):
    everyone = dist.new_group()
    assert (dist.get_rank(everyone), dist.get_world_size(everyone)) == (rank, world)
    ends = dist.new_group([world - 1, 0])  # sorted: global rank 0 is rank 0 of the group
    member = rank in (0, world - 1)
    t = value(rank, (2, 3), torch.float64, device)
    if not member:  # rank 1 of 3: collectives on the group warn and do nothing
        assert ends is dist.GroupMember.NON_GROUP_MEMBER
        assert (dist.get_rank(ends), dist.get_world_size(ends)) == (-1, -1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert dist.all_reduce(t, group=ends) is None
        assert "does not belong to the given group" in str(caught[0].message)
        np.testing.assert_array_equal(t.cpu().numpy(), value(rank, (2, 3), torch.float64).numpy())
        return
    assert (dist.get_rank(ends), dist.get_world_size(ends)) == (0 if rank == 0 else 1, 2)
    pair = [value(r, (2, 3), torch.float64).numpy() for r in (0, world - 1)]
    dist.all_reduce(t, group=ends)
    np.testing.assert_array_equal(t.cpu().numpy(), pair[0] + pair[1])
    t = value(rank, (2, 3), torch.float64, device)
    dist.broadcast(t, src=world - 1, group=ends)  # src is a global rank
    np.testing.assert_array_equal(t.cpu().numpy(), pair[1])
    t = value(rank, (2, 3), torch.float64, device)
    dist.reduce(t, group_dst=0, group=ends)
    np.testing.assert_array_equal(t.cpu().numpy(), pair[0] + pair[1] if rank == 0 else pair[1])
    outs = [torch.zeros(2, 3, dtype=torch.float64, device=device) for _ in range(2)]
    dist.all_gather(outs, value(rank, (2, 3), torch.float64, device), group=ends)
    np.testing.assert_array_equal(np.stack([o.cpu().numpy() for o in outs]), np.stack(pair))
    out = torch.zeros(2, dtype=torch.int64, device=device)
    dist.all_to_all_single(out, torch.tensor([10 * rank, 10 * rank + 1], device=device), group=ends)
    assert out.tolist() == [dist.get_rank(ends), 10 * (world - 1) + dist.get_rank(ends)], out
    if world > 2:
        try:
            dist.broadcast(t, src=1, group=ends)
        except ValueError as e:
            assert "src=1 is not a rank of the group" in str(e), e
        else:
            raise AssertionError("broadcast from a rank outside the group did not raise")
    dist.barrier(group=ends)


def main(out_dir):
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    failures = []
    devices = ["cpu", "cuda"] if os.environ.get("GPUNET_CUDA_SIM") == "1" else ["cpu"]
    for device in devices:
        try:
            for check in (checks, check_reduce, check_all_to_all, check_new_group):
                check(rank, world, device)
        except Exception:
            failures.append(f"{device}: {traceback.format_exc()}")
    with open(f"{out_dir}/rank{rank}.txt", "w") as f:
        f.write("\n".join(failures) or "ok")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
