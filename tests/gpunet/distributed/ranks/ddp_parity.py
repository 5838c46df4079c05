"""Rank program: DDP training runs whose final parameters the test compares with one process.

    python -m gpunet.distributed.run -n N ddp_parity.py OUT_DIR

Writes OUT_DIR/rank<r>.npz (every run's parameters, BatchNorm buffers, checks) once it has finished.
Also imported by the test for the single-process reference (build_model, batches, train).
"""
import sys

import numpy as np

import gpunet as torch
import gpunet.distributed as dist
import gpunet.nn as nn
from gpunet.nn.parallel import DistributedDataParallel as DDP

STEPS, LOCAL_BATCH = 3, 4


def build_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()


def make_optimizer(name, params):
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)
    return torch.optim.Adam(params, lr=0.05)


def batches(world, micro=1):
    """Per step, per micro-batch: the global batch (world * LOCAL_BATCH rows), identical on every rank."""
    rng = np.random.default_rng(0)
    return [[(torch.from_numpy(rng.standard_normal((world * LOCAL_BATCH, 5))),
              torch.from_numpy(rng.standard_normal((world * LOCAL_BATCH, 3)))) for _ in range(micro)]
            for _ in range(STEPS)]


def train(model, opt_name, data, part=slice(None), sync=None):
    """Train on data's rows `part` (a rank's share); sync(model) gives the context of all but the last
    micro-batch (DDP's no_sync)."""
    opt = make_optimizer(opt_name, model.parameters())
    for micro_batches in data:
        opt.zero_grad()
        for k, (x, y) in enumerate(micro_batches):
            last = k == len(micro_batches) - 1
            ctx = sync(model) if (sync is not None and not last) else _nothing()
            with ctx:
                loss = ((model(x[part]) - y[part]) ** 2).mean()
                loss.backward()
        opt.step()
    return model


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def params_of(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def main(out_dir):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    results = {}
    for opt_name in ("sgd", "adam"):
        model = DDP(build_model(seed=100 + rank))  # different inits: DDP must start every rank from rank 0's
        results[opt_name] = params_of(train(model, opt_name, batches(world), part).module)
    model = DDP(build_model(seed=100 + rank))
    results["no_sync"] = params_of(train(model, "sgd", batches(world, micro=2), part,
                                         sync=lambda m: m.no_sync()).module)
    # BatchNorm: each rank's batch differs, so only the forward's broadcast makes the running stats agree
    torch.manual_seed(0)
    bn_model = DDP(nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3)).double())
    train(bn_model, "sgd", batches(world), part)
    with torch.no_grad():
        bn_model(torch.zeros(2, 5, dtype=torch.float64))  # in train mode: stats move again, from rank 0's
    bn = bn_model.module[1]
    results["bn_mean"] = bn.running_mean.numpy().copy()
    results["bn_var"] = bn.running_var.numpy().copy()
    results["bn_batches"] = np.array([int(bn.num_batches_tracked.item())])
    # find_unused_parameters: `extra` is used by rank 0 only, `never` by no rank
    torch.manual_seed(0)
    inner = nn.ModuleDict({name: nn.Linear(5, 3) for name in ("main", "extra", "never")}).double()
    unused = DDP(_Branches(inner), find_unused_parameters=True)
    x, y = batches(world)[0][0]
    ((unused(x[part], use_extra=rank == 0) - y[part]) ** 2).mean().backward()
    results["unused_extra_grad"] = inner["extra"].weight.grad.numpy().copy()
    results["unused_never_is_none"] = np.array([inner["never"].weight.grad is None])
    results["state_dict_keys"] = np.array(sorted(unused.state_dict()))
    np.savez(f"{out_dir}/rank{rank}.npz", **results)


class _Branches(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, use_extra):
        out = self.inner["main"](x)
        return out + self.inner["extra"](x) if use_extra else out


if __name__ == "__main__":
    main(sys.argv[1])
