"""LeNet-5 on the handwritten digits, data-parallel on N processes (DistributedDataParallel over MPI).

    python -m gpunet.distributed.run -n 2 examples/train_ddp.py [--epochs 12]
    python examples/train_ddp.py            # the same program on one process (a world of one, no MPI)

lenet_digits.py's model, data and recipe (Adam, cosine schedule, random shifts), split across ranks:
each rank reads its DistributedSampler share of every epoch with batch size global_batch / N, DDP
averages the gradients after each backward, so every rank takes the same optimizer step as one process
on the whole batch would. Rank 0 evaluates, prints the test accuracy (about 98%, as on one process)
and the time per step, and how much of it the gradient all-reduce took. Needs `pip install
"gpunet[distributed]"` (mpi4py, MPICH) for more than one process.
"""
import os
import sys
import time

import gpunet as torch
import gpunet.distributed as dist
import gpunet.nn.functional as F
from gpunet.nn.parallel import DistributedDataParallel as DDP
from gpunet.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_digits, make_parser, print_metrics, progress  # noqa: E402
from lenet_digits import LeNet5, evaluate  # noqa: E402


def main(argv=None):
    parser = make_parser(__doc__, epochs=12)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch, split across the ranks")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--shift", type=int, default=2, help="random shift in pixels, augmentation (0: none)")
    args = parser.parse_args(argv)
    dist.init_process_group("gloo")  # 'gloo' as in PyTorch programs; gpunet runs it on MPI
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        parser.error(f"--batch-size {args.batch_size} must be a multiple of the {world} ranks")
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    x_train, y_train, x_test, y_test = load_digits(size=32, seed=args.seed)
    if args.fast:
        x_train, y_train, x_test, y_test = x_train[:96], y_train[:96], x_test[:64], y_test[:64]
    train_set = TensorDataset(x_train, y_train)
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size // world, sampler=sampler)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=256)

    model = DDP(LeNet5().to(device))  # rank 0's initial weights are broadcast to every rank
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    torch.manual_seed(args.seed + 1 + rank)  # each rank shifts its own batches differently

    warmup = 2  # the first steps compile Numba kernels: not timed
    steps, step_seconds, comm_start, accuracy = 0, 0.0, 0.0, 0.0
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)  # a new order each epoch, the same on every rank
        model.train()
        bar = progress(train_loader, f"epoch {epoch}/{args.epochs}", args) if rank == 0 else train_loader
        for x, y in bar:
            start = time.perf_counter()
            x, y = x.to(device), y.to(device)
            if args.shift:
                dy, dx = torch.randint(-args.shift, args.shift + 1, (2,)).tolist()
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()  # DDP all-reduces each bucket of gradients as it is ready; averaged by its end
            optimizer.step()
            steps += 1
            if steps == warmup:
                comm_start = model._comm_seconds  # gpunet's DDP keeps its all-reduce time here
            elif steps > warmup:
                step_seconds += time.perf_counter() - start
        scheduler.step()
        if rank == 0:
            accuracy = evaluate(model.module, test_loader, device)
            print(f"epoch {epoch:2d}  test accuracy {accuracy:.2%}", flush=True)

    # every rank timed its own steps; rank 0 reports the mean over ranks
    timed = max(steps - warmup, 1)
    timing = torch.tensor([step_seconds / timed, (model._comm_seconds - comm_start) / timed],
                          dtype=torch.float64)
    dist.all_reduce(timing, op=dist.ReduceOp.AVG)
    metrics = {"ranks": world, "test_accuracy": accuracy, "epochs": args.epochs, "steps": steps,
               "step_ms": 1e3 * timing[0].item(), "allreduce_ms_per_step": 1e3 * timing[1].item()}
    if rank == 0:
        print_metrics("train_ddp", metrics)
    dist.destroy_process_group()
    return metrics


if __name__ == "__main__":
    main()
