"""gpunet.distributed in this process: a world of one (no launcher, so no MPI), errors, the launcher's
command line, the autograd engine's queue_callback, DDP and DataParallel on one process."""
import os

import numpy as np
import pytest

import gpunet
import gpunet.distributed as dist
import gpunet.nn as nn
from gpunet.autograd.engine import queue_callback
from gpunet.distributed import process_group, run
from gpunet.nn.parallel import DataParallel, DistributedDataParallel as DDP
from tests.conftest import REAL_GPU

LAUNCHER_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


@pytest.fixture
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture
def world(no_launcher):
    dist.init_process_group("gloo")
    yield


def test_a_plain_process_is_a_world_of_one(world):
    assert dist.is_available() and dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "gloo")
    assert dist.group.WORLD.size() == 1
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group("mpi")
    dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="Default process group has not been initialized"):
        dist.get_rank()


@pytest.mark.parametrize("op", ["SUM", "AVG", "MAX", "MIN", "PRODUCT"])
def test_collectives_are_identities_in_a_world_of_one(world, op):
    t = gpunet.tensor([[1.0, -2.0, 3.0]])
    dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
    work = dist.all_reduce(t, async_op=True)
    assert work.wait() and work.is_completed()
    dist.broadcast(t, src=0)
    assert t.tolist() == [[1.0, -2.0, 3.0]]
    outs = [gpunet.zeros(1, 3)]
    dist.all_gather(outs, t)
    out = gpunet.zeros(3)
    dist.all_gather_into_tensor(out, t)
    scattered = gpunet.zeros(1, 3)
    dist.reduce_scatter_tensor(scattered, t, op=getattr(dist.ReduceOp, op))
    gathered = [gpunet.zeros(1, 3)]
    dist.gather(t, gathered, dst=0)
    mine = gpunet.zeros(1, 3)
    dist.scatter(mine, [t], src=0)
    dist.barrier()
    for result in (outs[0], out.reshape(1, 3), scattered, gathered[0], mine):
        assert result.tolist() == [[1.0, -2.0, 3.0]]
    empty = gpunet.zeros(0)
    dist.all_reduce(empty)
    assert empty.shape == (0,)


def test_reduce_all_to_all_and_new_group_in_a_world_of_one(world):
    t = gpunet.tensor([1.0, -2.0])
    dist.reduce(t, dst=0, op=dist.ReduceOp.AVG)
    assert dist.reduce(t, dst=0, async_op=True).wait() and t.tolist() == [1.0, -2.0]
    outs = [gpunet.zeros(0, dtype=gpunet.int64)]
    dist.all_to_all(outs, [gpunet.zeros(0, dtype=gpunet.int64)])
    outs = [gpunet.zeros(2)]
    dist.all_to_all(outs, [t], async_op=True).wait()
    out = gpunet.zeros(2, 1)
    dist.all_to_all_single(out, t.reshape(2, 1), output_split_sizes=[2], input_split_sizes=[2])
    assert outs[0].tolist() == [1.0, -2.0] and out.reshape(2).tolist() == [1.0, -2.0]
    g = dist.new_group([0])
    assert (dist.get_rank(g), dist.get_world_size(g)) == (0, 1) and g is not dist.group.WORLD
    dist.all_reduce(t, group=g)
    dist.broadcast(t, src=0, group=g)
    assert t.tolist() == [1.0, -2.0]
    assert dist.new_group().ranks == [0]


def test_wrong_arguments_of_the_new_collectives_are_named(world):
    with pytest.raises(ValueError, match="reduce: dst=1 is not a rank of the group"):
        dist.reduce(gpunet.zeros(2), dst=1)
    with pytest.raises(ValueError, match="all_to_all: input_tensor_list has 2 tensors for a group of 1"):
        dist.all_to_all([gpunet.zeros(2)], [gpunet.zeros(2), gpunet.zeros(2)])
    with pytest.raises(ValueError, match=r"all_to_all: every input and output tensor must have one dtype, "
                                         r"got \['gpunet.float32', 'gpunet.int64'\]"):
        dist.all_to_all([gpunet.zeros(2, dtype=gpunet.int64)], [gpunet.zeros(2)])
    with pytest.raises(ValueError, match=r"all_to_all_single: output \(\[2, 3\], gpunet.float32\) and "
                                         r"input \(\[2, 2\], gpunet.float32\)"):
        dist.all_to_all_single(gpunet.zeros(2, 3), gpunet.zeros(2, 2))
    with pytest.raises(ValueError, match=r"input_split_sizes \[1, 1\] must hold 1 sizes"):
        dist.all_to_all_single(gpunet.zeros(2), gpunet.zeros(2), input_split_sizes=[1, 1])
    with pytest.raises(ValueError, match="at least one dimension"):
        dist.all_to_all_single(gpunet.zeros(()), gpunet.zeros(()))
    with pytest.raises(ValueError, match="duplicate"):
        dist.new_group([0, 0])
    with pytest.raises(ValueError, match=r"new_group: ranks \[1\] are not ranks of a world of 1"):
        dist.new_group([0, 1])
    with pytest.raises(TypeError, match="group must be a ProcessGroup"):
        dist.all_reduce(gpunet.zeros(1), group="world")


def test_wrong_arguments_are_named(world):
    with pytest.raises(ValueError, match="src=1"):
        dist.broadcast(gpunet.zeros(2), src=1)
    with pytest.raises(ValueError, match="tensor_list has 2 tensors for a world of 1"):
        dist.all_gather([gpunet.zeros(2), gpunet.zeros(2)], gpunet.zeros(2))
    with pytest.raises(ValueError, match="unknown reduce op"):
        dist.all_reduce(gpunet.zeros(2), op="mean")
    with pytest.raises(TypeError, match="gpunet Tensor"):
        dist.all_reduce(np.zeros(2))


@pytest.mark.skipif(REAL_GPU, reason="the simulated cuda device's refusal (tests/.../test_nccl.py: real GPU)")
def test_nccl_is_refused_on_the_simulated_device(no_launcher):
    with pytest.raises(RuntimeError, match="NCCL needs a real GPU per rank.*simulator.*backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("ucc")
    assert not dist.is_initialized()


def test_more_than_one_process_without_mpi4py_says_what_to_install(no_launcher, monkeypatch):
    monkeypatch.setattr(process_group, "_import_mpi", lambda: None)
    monkeypatch.setenv("PMI_SIZE", "2")
    hint = r'world of 2 processes needs mpi4py.*pip install "gpunet\[distributed\]"'
    with pytest.raises(RuntimeError, match=hint):
        dist.init_process_group("mpi")
    monkeypatch.delenv("PMI_SIZE")
    with pytest.raises(RuntimeError, match="world of 4 processes"):
        dist.init_process_group("gloo", world_size=4)
    monkeypatch.setenv("PMI_SIZE", "1")  # mpiexec -n 1 without mpi4py: still a world of one
    dist.init_process_group("mpi")
    assert dist.get_world_size() == 1


def test_the_launcher_uses_the_mpiexec_next_to_python(monkeypatch, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    monkeypatch.setattr(run.sys, "executable", str(fake / "python"))
    with pytest.raises(RuntimeError, match=r'no mpiexec in .*pip install "gpunet\[distributed\]"'):
        run.find_mpiexec()
    assert run.main(["-n", "2", "train.py"]) == 2
    mpiexec = fake / "mpiexec"
    mpiexec.write_text("#!/bin/sh\necho 'HYDRA build details:'\n")
    mpiexec.chmod(0o755)
    argv, env = run.command(3, ["train.py", "--epochs", "2"], timeout=30, env={})
    python = str(fake / "python")
    assert argv == [str(mpiexec), "-n", "3", python, "-m", "mpi4py", "train.py", "--epochs", "2"]
    assert env["MPIEXEC_TIMEOUT"] == "30"
    mpiexec.write_text("#!/bin/sh\necho 'mpiexec (Open MPI) 5.0.5'\n")
    argv, env = run.command(2, ["train.py"], timeout=30, env={})
    assert argv[:4] == [str(mpiexec), "--oversubscribe", "--timeout", "30"] and "MPIEXEC_TIMEOUT" not in env
    if os.geteuid() == 0:
        assert env["OMPI_ALLOW_RUN_AS_ROOT"] == env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"


def test_the_launcher_splits_the_cores_among_the_ranks(monkeypatch, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    monkeypatch.setattr(run.sys, "executable", str(fake / "python"))
    (fake / "mpiexec").write_text("#!/bin/sh\necho 'HYDRA build details:'\n")
    (fake / "mpiexec").chmod(0o755)
    assert run.threads_per_rank(1) >= 1 and run.threads_per_rank(10 ** 6) == 1
    monkeypatch.setattr(run, "threads_per_rank", lambda n: max(1, 8 // n))  # an 8-core machine
    _, env = run.command(2, ["train.py"], env={})
    assert all(env[name] == "4" for name in run.THREAD_VARIABLES)
    _, env = run.command(16, ["train.py"], env={})
    assert all(env[name] == "1" for name in run.THREAD_VARIABLES)
    _, env = run.command(1, ["train.py"], env={})  # one rank keeps the libraries' defaults
    assert not any(name in env for name in run.THREAD_VARIABLES)
    _, env = run.command(2, ["train.py"], env={"OMP_NUM_THREADS": "3"})  # the user's choice stands
    assert env["OMP_NUM_THREADS"] == "3" and not any(
        name in env for name in run.THREAD_VARIABLES if name != "OMP_NUM_THREADS")


def test_queue_callback_runs_after_the_walk_has_accumulated_every_grad():
    w = gpunet.ones(3, requires_grad=True)
    b = gpunet.ones(1, requires_grad=True)
    seen = []
    w.register_hook(lambda g: queue_callback(lambda: seen.append((w.grad.tolist(), b.grad.tolist()))))
    ((w * 2).sum() + b.sum()).backward()
    assert seen == [([2.0, 2.0, 2.0], [1.0])]
    with pytest.raises(RuntimeError, match="during a backward pass"):
        queue_callback(lambda: None)


def _mlp():
    gpunet.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2)).double()


def test_ddp_in_a_world_of_one_trains_like_the_module(world):
    x, y = gpunet.randn(6, 4, dtype=gpunet.float64), gpunet.randn(6, 2, dtype=gpunet.float64)
    plain, model = _mlp(), DDP(_mlp(), bucket_cap_mb=1e-6)  # tiny buckets: one parameter each
    assert len(model._buckets) == 6 and model._buckets[0][0][0] == "3.bias"  # reverse order
    assert isinstance(model.module, nn.Sequential)
    assert list(model.state_dict()) == ["module." + k for k in plain.state_dict()]
    for m in (plain, model):
        opt = gpunet.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            with model.no_sync() if m is model else _null():
                ((m(x[:3]) - y[:3]) ** 2).mean().backward()
            ((m(x[3:]) - y[3:]) ** 2).mean().backward()
            opt.step()
    for p, q in zip(plain.parameters(), model.module.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_ddp_first_bucket_holds_at_most_1_mib_unless_bucket_cap_mb_is_given(world):
    # reverse order: c (0.5 MiB) and b (0.75 MiB) would exceed 1 MiB together, so c is alone in the first
    sizes = {"a": 3 * 2 ** 18, "b": 3 * 2 ** 16, "c": 2 ** 17}  # float32 counts: 3 MiB, 0.75, 0.5
    params = nn.ParameterDict({k: nn.Parameter(gpunet.zeros(n)) for k, n in sizes.items()})
    names = [[name for name, _ in bucket] for bucket in DDP(params)._buckets]
    assert names == [["c"], ["b", "a"]]
    names = [[name for name, _ in bucket] for bucket in DDP(params, bucket_cap_mb=2)._buckets]
    assert names == [["c", "b"], ["a"]]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _UsesOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

    def forward(self, x):
        return self.used(x)


def test_ddp_names_a_parameter_without_gradient_unless_told_to_expect_one(world):
    model = DDP(_UsesOne())
    with pytest.raises(RuntimeError, match="no gradient on rank 0: unused.weight, unused.bias.*"
                                           "find_unused_parameters=True"):
        model(gpunet.ones(1, 2)).sum().backward()
    model = DDP(_UsesOne(), find_unused_parameters=True)
    model(gpunet.ones(1, 2)).sum().backward()
    assert model.module.unused.weight.grad is None and model.module.used.weight.grad is not None


def test_ddp_needs_a_process_group(no_launcher):
    with pytest.raises(RuntimeError, match="init_process_group"):
        DDP(nn.Linear(2, 2))


def test_data_parallel_is_a_pass_through_wrapper():
    inner = nn.Linear(3, 2)
    model = DataParallel(inner)
    x = gpunet.ones(1, 3)
    assert model(x).tolist() == inner(x).tolist()
    assert list(model.state_dict()) == ["module.weight", "module.bias"]
    assert gpunet.nn.parallel.DistributedDataParallel is DDP
