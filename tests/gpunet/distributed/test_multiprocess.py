"""Jobs of 2 and 3 MPI processes started with `python -m gpunet.distributed.run`; every rank must report.

MPICH can exit 0 when a rank died, so each test checks that every rank wrote its result file. Skipped
without mpi4py (`pip install "gpunet[distributed]"`), except under CI, where a missing MPI fails.
"""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

RANKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ranks")
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")


def _need_mpi():
    missing = importlib.util.find_spec("mpi4py") is None or not os.path.exists(MPIEXEC)
    if missing:
        message = f'mpi4py or {MPIEXEC} missing: pip install "gpunet[distributed]"'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def launch(n, script, *args, cuda_sim=False, timeout=60):
    """Run script on n ranks; returns (CompletedProcess, seconds)."""
    _need_mpi()
    env = {k: v for k, v in os.environ.items() if k not in ("GPUNET_CUDA_SIM", "NUMBA_ENABLE_CUDASIM")}
    if cuda_sim:
        env["GPUNET_CUDA_SIM"] = "1"
    cmd = [sys.executable, "-m", "gpunet.distributed.run", "-n", str(n), "--timeout", str(timeout),
           os.path.join(RANKS, script), *map(str, args)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 60)
    return done, time.perf_counter() - start


def _load_ranks_module():
    spec = importlib.util.spec_from_file_location("ddp_parity", os.path.join(RANKS, "ddp_parity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _every_rank(tmp_path, n, suffix):
    files = [tmp_path / f"rank{r}.{suffix}" for r in range(n)]
    missing = [f.name for f in files if not f.exists()]
    assert not missing, f"ranks that did not report: {missing}"
    return files


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_one_process_on_the_union_of_the_batches(tmp_path, n):
    done, _ = launch(n, "ddp_parity.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = [dict(np.load(f)) for f in _every_rank(tmp_path, n, "npz")]
    ref = _load_ranks_module()
    for run, micro in (("sgd", 1), ("adam", 1), ("no_sync", 2)):
        opt = "sgd" if run == "no_sync" else run
        # one process, rank 0's initial weights, the whole global batch (float64)
        want = ref.params_of(ref.train(ref.build_model(seed=100), opt, ref.batches(n, micro)))
        for r, res in enumerate(results):
            np.testing.assert_array_equal(res[run], results[0][run], err_msg=f"{run}: rank {r} differs")
            np.testing.assert_allclose(res[run], want, rtol=0, atol=1e-10, err_msg=f"{run}: rank {r}")
    for key in ("bn_mean", "bn_var", "bn_batches", "unused_extra_grad", "unused_never_is_none"):
        for res in results[1:]:
            np.testing.assert_array_equal(res[key], results[0][key], err_msg=key)
    assert results[0]["bn_batches"].tolist() == [ref.STEPS + 1]
    assert results[0]["unused_never_is_none"].tolist() == [True]
    assert np.abs(results[0]["unused_extra_grad"]).sum() > 0
    assert all(k.startswith("module.") for k in results[0]["state_dict_keys"])


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_starts_bucket_all_reduces_during_backward_and_matches_one_process(tmp_path, n):
    """One bucket per parameter; tied weights, no_sync, unused parameters, autograd.grad stays local,
    DDP over a new_group."""
    done, _ = launch(n, "ddp_overlap.py", tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for f in _every_rank(tmp_path, n, "txt"):
        assert f.read_text() == "ok", f.read_text()


@pytest.mark.parametrize("n", [2, 3])
def test_collectives_over_dtypes_shapes_groups_and_async_handles(tmp_path, n):
    done, _ = launch(n, "collectives.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for f in _every_rank(tmp_path, n, "txt"):
        assert f.read_text() == "ok", f.read_text()


def test_collectives_on_simulated_cuda_tensors_go_through_the_host(tmp_path):
    done, _ = launch(2, "collectives.py", tmp_path, cuda_sim=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for f in _every_rank(tmp_path, 2, "txt"):
        assert f.read_text() == "ok", f.read_text()


def test_a_rank_that_raises_fails_the_job_in_bounded_time():
    done, seconds = launch(2, "raises.py", timeout=60)
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    assert seconds < 50, f"the job took {seconds:.1f} s to fail"


def test_the_ddp_example_runs_on_two_ranks():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    _need_mpi()
    env = {k: v for k, v in os.environ.items() if k not in ("GPUNET_CUDA_SIM", "NUMBA_ENABLE_CUDASIM")}
    example = os.path.join(RANKS, os.pardir, os.pardir, os.pardir, os.pardir, "examples", "train_ddp.py")
    cmd = [sys.executable, "-m", "gpunet.distributed.run", "-n", "2", "--timeout", "120",
           os.path.abspath(example), "--fast", "--quiet", "--epochs", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "train_ddp: ranks=2" in done.stdout and done.stdout.count("train_ddp:") == 1


TORCH_PROGRAM = """
import sys
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data.distributed import DistributedSampler
dist.init_process_group("gloo")
rank = dist.get_rank()
model = DDP(torch.nn.Linear(2, 1, bias=False))
model(torch.full((1, 2), float(rank + 1))).sum().backward()
share = list(DistributedSampler(range(5), shuffle=False))
with open(f"{sys.argv[1]}/rank{rank}.txt", "w") as f:
    f.write(f"{model.module.weight.grad.tolist()} {share}")
"""


def test_an_unmodified_pytorch_program_runs_on_two_ranks_under_gpunet_run(tmp_path):
    _need_mpi()
    script = tmp_path / "torch_ddp.py"
    script.write_text(TORCH_PROGRAM)
    env = {k: v for k, v in os.environ.items() if k not in ("GPUNET_CUDA_SIM", "NUMBA_ENABLE_CUDASIM")}
    cmd = [sys.executable, "-m", "gpunet.distributed.run", "-n", "2", "--timeout", "60",
           "-m", "gpunet.run", str(script), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    reports = [f.read_text() for f in _every_rank(tmp_path, 2, "txt")]
    assert reports == ["[[1.5, 1.5]] [0, 2, 4]", "[[1.5, 1.5]] [1, 3, 0]"]
