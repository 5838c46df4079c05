"""Whole PyTorch programs (tests/compat/scripts/), unmodified, run by `python -m gpunet.run` and by PyTorch.

Programs whose only randomness is their initial weights run from the same weights (PyTorch's run writes
them with `--save-init`, gpunet's reads them with `--init`) and must log the same losses. Programs that draw
random numbers while training (VAE noise, sampled actions, GAN noise) cannot follow PyTorch's random stream,
so each framework's run must show that it learns. Without PyTorch, the gpunet runs alone are checked."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gpunet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gpunet.__file__)))
SCRIPTS = os.path.join(ROOT, "tests", "compat", "scripts")
try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

# script -> arguments for a short run; these runs are deterministic given the initial weights
SAME_WEIGHTS = {
    "cnn_bn.py": ["--no-accel", "--epochs", "2"],
    "lstm_tagger.py": ["--epochs", "8"],
    "word_lm.py": ["--dropout", "0", "--tied", "--epochs", "2", "--lr", "5"],
}


def run(framework, script, args, cwd):
    prefix = [sys.executable, "-m", "gpunet.run"] if framework == "gpunet" else [sys.executable]
    env = {k: v for k, v in os.environ.items() if k != "GPUNET_CUDA_SIM"}  # the CPU, as users run them
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([*prefix, os.path.join(SCRIPTS, script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{framework} {script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def logged(framework, script, args, tmp_path):
    folder = tmp_path / framework
    folder.mkdir(exist_ok=True)
    run(framework, script, [*args, "--log", str(folder / "log.json")], folder)
    with open(folder / "log.json") as f:
        return json.load(f)


def assert_close(ref, got, where=""):
    if isinstance(ref, dict):
        assert ref.keys() == got.keys(), where
        for k in ref:
            assert_close(ref[k], got[k], f"{where}.{k}")
    elif isinstance(ref, (int, float)) and not isinstance(ref, bool):
        assert math.isclose(ref, got, rel_tol=2e-4, abs_tol=2e-5), f"{where}: PyTorch {ref}, gpunet {got}"
    elif isinstance(ref, list) and ref and isinstance(ref[0], float):
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-5, err_msg=where)
    else:
        assert ref == got, f"{where}: PyTorch {ref}, gpunet {got}"


@pytest.mark.parametrize("script", sorted(SAME_WEIGHTS))
def test_same_weights_same_losses(script, tmp_path):
    args = SAME_WEIGHTS[script]
    init = str(tmp_path / "init.npz")
    if not HAVE_TORCH:
        got = logged("gpunet", script, args, tmp_path)
        assert all(map(math.isfinite, got["losses"])) and got["losses"][-1] < got["losses"][0]
        return
    ref = logged("torch", script, [*args, "--save-init", init], tmp_path)
    got = logged("gpunet", script, [*args, "--init", init], tmp_path)
    assert_close(ref, got, script)


def test_checkpoint_resume_and_whole_model(tmp_path):
    """Stop after epoch 2, resume from the checkpoint dict; the whole model saved and reloaded agrees."""
    logs = {}
    for framework in ["torch", "gpunet"] if HAVE_TORCH else ["gpunet"]:
        folder = tmp_path / framework
        folder.mkdir()
        init = ["--save-init" if framework == "torch" else "--init", str(tmp_path / "init.npz")]
        if not HAVE_TORCH:
            init = []
        run(framework, "checkpoint.py", [*init, "--dir", str(folder), "--stop-after", "2"], folder)
        logs[framework] = logged(framework, "checkpoint.py", ["--dir", str(folder), "--resume"], tmp_path)
        assert logs[framework]["reloaded_agrees"] is True
        assert len(logs[framework]["losses"]) == 6 * 4  # 3 epochs before the stop, 3 after, 4 steps each
    if HAVE_TORCH:
        assert_close(logs["torch"], logs["gpunet"], "checkpoint.py")


def _learns_vae(log):
    return log["losses"][-1] < 0.8 * log["losses"][0] and log["sample_shape"] == [8, 64]


def _learns_actor_critic(log):
    # the goal is 5 steps away; a random walk needs about 25 (episodes end at 20)
    return np.mean(log["lengths"][-10:]) <= 7 and all(map(math.isfinite, log["losses"]))


def _learns_dcgan(log):
    losses = log["lossesD"] + log["lossesG"]
    low, high = log["fake_range"]
    return all(map(math.isfinite, losses)) and -1 <= low < high <= 1 and log["fake_shape"] == [16, 1, 16, 16]


@pytest.mark.parametrize("script, learns", [("vae.py", _learns_vae), ("dcgan.py", _learns_dcgan),
                                            ("actor_critic.py", _learns_actor_critic)])
def test_random_programs_learn(script, learns, tmp_path):
    for framework in ["torch", "gpunet"] if HAVE_TORCH else ["gpunet"]:
        log = logged(framework, script, [], tmp_path)
        assert learns(log), f"{framework} {script}: {log}"
