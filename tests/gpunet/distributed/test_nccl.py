"""The NCCL backend on a real GPU: a world of one rank (no MPI needed), every collective NCCL runs, and
DDP averaging through it. Skipped without a GPU (GPUNET_TEST_REAL_GPU=1 runs them; see tests/conftest.py);
the simulated device's refusal is in test_world_of_one.py."""
import numpy as np
import pytest

import gpunet
import gpunet.distributed as dist
import gpunet.nn as nn
from gpunet.nn.parallel import DistributedDataParallel as DDP

pytestmark = pytest.mark.gpu


@pytest.fixture
def nccl_world(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    dist.init_process_group("nccl")
    yield
    dist.destroy_process_group()


def test_collectives_run_on_nccl(nccl_world):
    assert dist.get_backend() == "nccl" and dist.is_nccl_available()
    for dtype in (gpunet.float16, gpunet.float32, gpunet.float64, gpunet.int32, gpunet.int64):
        t = gpunet.arange(6, dtype=dtype, device="cuda").reshape(2, 3)
        for op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX, dist.ReduceOp.MIN):
            dist.all_reduce(t, op=op)
            np.testing.assert_array_equal(t.cpu().numpy(), np.arange(6).reshape(2, 3))
        dist.broadcast(t, src=0)
        out = gpunet.zeros(6, dtype=dtype, device="cuda")
        dist.all_gather_into_tensor(out, t.reshape(-1))
        np.testing.assert_array_equal(out.cpu().numpy(), np.arange(6))
        scattered = gpunet.zeros(6, dtype=dtype, device="cuda")
        dist.reduce_scatter_tensor(scattered, t.reshape(-1))
        np.testing.assert_array_equal(scattered.cpu().numpy(), np.arange(6))
    work = dist.all_reduce(gpunet.ones(3, device="cuda"), async_op=True)
    assert work.wait()


def test_ddp_steps_through_nccl(nccl_world):
    gpunet.manual_seed(0)
    model = nn.Linear(4, 2).cuda()
    ddp = DDP(model)
    ddp(gpunet.randn(8, 4, device="cuda")).sum().backward()
    assert model.weight.grad is not None and model.weight.grad.device.type == "cuda"
