"""Rank program: DDP with many buckets, whose all-reduces start during backward. Each rank compares with
one process on the whole batch (float64, 1e-10) and writes OUT_DIR/rank<r>.txt: "ok" or the failures.

    python -m gpunet.distributed.run -n N ddp_overlap.py OUT_DIR
"""
import os
import sys
import traceback

import numpy as np

import gpunet as torch
import gpunet.distributed as dist
import gpunet.nn as nn
from gpunet.distributed import collectives
from gpunet.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ddp_parity import LOCAL_BATCH, batches, build_model, params_of, train  # noqa: E402

TINY = 1e-5  # bucket_cap_mb: every parameter in a bucket of its own


class Tied(nn.Module):
    """One Linear used twice: its parameters get two gradients in every backward."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(5, 5)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.inner(torch.tanh(self.inner(x)))))


def build_tied(seed):
    torch.manual_seed(seed)
    return Tied().double()


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.ModuleDict({name: nn.Linear(5, 3) for name in ("never", "extra", "main")})

    def forward(self, x, use_extra):
        out = self.inner["main"](x)
        return out + self.inner["extra"](x) if use_extra else out


def spy_on_starts(model):
    """Record, per backward, how many buckets had started when backward finished."""
    seen, finish = [], model._reduce_gradients

    def spy():
        seen.append(len(model._works))
        finish()
    model._reduce_gradients = spy
    return seen


def close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10, err_msg=what)


def check_training(rank, world, part):
    for build, name in ((build_model, "mlp"), (build_tied, "tied")):
        for opt in ("sgd", "adam"):
            want = params_of(train(build(100), opt, batches(world)))
            model = DDP(build(100 + rank), bucket_cap_mb=TINY)
            assert len(model._buckets) == 4, model._buckets
            seen = spy_on_starts(model)
            close(params_of(train(model, opt, batches(world), part).module), want, f"{name} {opt}")
            # every bucket had started before backward ended (a used-twice parameter starts once)
            assert seen == [4] * len(batches(world)), seen
        want = params_of(train(build(100), "sgd", batches(world, micro=2)))
        model = DDP(build(100 + rank), bucket_cap_mb=TINY)
        got = train(model, "sgd", batches(world, micro=2), part, sync=lambda m: m.no_sync()).module
        close(params_of(got), want, f"{name} no_sync")


def check_unused(rank, world, part):
    """`extra` used on rank 0 only, `never` on no rank: their buckets still start, the flags follow."""
    x, y = batches(world)[0][0]
    torch.manual_seed(0)
    model = DDP(Branches().double(), find_unused_parameters=True, bucket_cap_mb=TINY)
    seen = spy_on_starts(model)
    ((model(x[part], use_extra=rank == 0) - y[part]) ** 2).mean().backward()
    # buckets: main.bias, main.weight, extra.bias, extra.weight, never.bias, never.weight
    assert seen == [4 if rank == 0 else 2], seen
    inner = model.module.inner
    assert inner["never"].weight.grad is None and inner["never"].bias.grad is None
    want = {}
    for r in range(world):
        torch.manual_seed(0)
        local = Branches().double()
        rows = slice(r * LOCAL_BATCH, (r + 1) * LOCAL_BATCH)
        ((local(x[rows], use_extra=r == 0) - y[rows]) ** 2).mean().backward()
        for name in ("main", "extra"):
            for p_name, p in local.inner[name].named_parameters():
                if p.grad is None:  # extra on the ranks that skip it: zeros in the average
                    continue
                want[f"{name}.{p_name}"] = want.get(f"{name}.{p_name}", 0) + p.grad.numpy() / world
    for key, value in want.items():
        name, p_name = key.split(".")
        close(getattr(inner[name], p_name).grad.numpy(), value, f"unused {key}")


def check_autograd_grad_stays_local(rank, world, part):
    """A gradient penalty: autograd.grad through the DDP model reduces nothing and leaves .grad alone;
    the backward that follows averages the gradients of loss + penalty."""
    calls = []
    real = collectives.all_reduce

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    def loss_with_penalty(model, rows):
        x, y = batches(world)[0][0]
        loss = ((model(x[rows]) - y[rows]) ** 2).mean()
        grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
        return loss, loss + sum((g ** 2).sum() for g in grads)

    model = DDP(build_model(100 + rank), bucket_cap_mb=TINY)
    collectives.all_reduce = counting
    try:
        _, total = loss_with_penalty(model, part)
        assert calls == [] and all(p.grad is None for p in model.parameters()), calls
        assert not model._queued and not model._ready and not model._works
        total.backward()
        assert len(calls) == 4, calls
    finally:
        collectives.all_reduce = real
    want = 0
    for r in range(world):
        local = build_model(100)
        loss_with_penalty(local, slice(r * LOCAL_BATCH, (r + 1) * LOCAL_BATCH))[1].backward()
        want = want + np.concatenate([p.grad.numpy().ravel() for p in local.parameters()]) / world
    got = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    close(got, want, "gradient penalty")


def check_subgroup(rank, world, part):
    """DDP over new_group([0, 1]): ranks 0 and 1 train as one process on their two batches."""
    pair = dist.new_group([0, 1])
    if rank > 1:
        return
    want = params_of(train(build_model(100), "sgd", batches(2)))
    model = DDP(build_model(100 + rank), process_group=pair, bucket_cap_mb=TINY)
    close(params_of(train(model, "sgd", batches(2), part).module), want, "subgroup")


def main(out_dir):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    failures = []
    for check in (check_training, check_unused, check_autograd_grad_stays_local, check_subgroup):
        try:
            check(rank, world, part)
        except Exception:
            failures.append(f"{check.__name__}: {traceback.format_exc()}")
            break  # the ranks' collectives may no longer match: stop here
    with open(f"{out_dir}/rank{rank}.txt", "w") as f:
        f.write("\n".join(failures) or "ok")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
