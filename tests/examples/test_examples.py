"""The example programs run in-process in their --fast mode, and their key behaviour holds.

Each example's main(argv) returns a dict of its final metrics; these tests assert on it. One slow test
trains LeNet-5 with the default settings and checks the accuracy the example promises.
"""
import importlib
import math
import os
import sys

import pytest

import gpunet

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "examples")
os.environ.setdefault("MPLBACKEND", "Agg")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def example(name):
    """Import examples/<name>.py (the examples import each other and _common by plain name)."""
    path = os.path.abspath(EXAMPLES)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(name)


def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert os.path.getsize(path) > 1000


def test_lenet_checkpoint_round_trip(tmp_path):
    checkpoint, plot = tmp_path / "lenet.pt", tmp_path / "lenet.png"
    argv = ["--fast", "--quiet", "--checkpoint", str(checkpoint), "--plot", str(plot)]
    m = example("lenet_digits").main(argv)
    assert m["train_loss"] < m["first_train_loss"]
    assert m["reloaded_test_accuracy"] == m["test_accuracy"]
    saved = gpunet.load(str(checkpoint))
    assert set(saved) >= {"model", "optimizer", "scheduler", "epoch"} and saved["epoch"] == m["epochs"] == 2
    assert saved["scheduler"]["last_epoch"] == 2
    assert "features.0.weight" in saved["model"] and "classifier.4.bias" in saved["model"]
    assert len(saved["optimizer"]["state"]) == 10  # Adam state for each of the 10 parameters
    assert_png(plot)


def test_finetune_freezes_features_and_follows_the_lr_schedule(tmp_path):
    checkpoint = tmp_path / "lenet.pt"  # missing: finetune trains one first (in fast mode)
    m = example("finetune").main(["--fast", "--quiet", "--epochs", "7", "--checkpoint", str(checkpoint),
                                  "--plot", str(tmp_path / "finetune.png")])
    assert checkpoint.exists()
    assert m["frozen_unchanged"] and m["frozen_without_grad"]
    assert m["classifier_changed"]  # the comparison above is not vacuous: trained layers did move
    # epochs 1-2: probe (lr halved by editing param_groups); 3+: one group per layer, StepLR(2, 0.5);
    # epoch 5: the odd/even head joins with lr 0.05 and is decayed with the others from then on.
    expected = [[0.05], [0.025], [0.005, 0.01, 0.02], [0.005, 0.01, 0.02], [0.0025, 0.005, 0.01, 0.05],
                [0.0025, 0.005, 0.01, 0.05], [0.00125, 0.0025, 0.005, 0.025]]
    assert m["add_head_epoch"] == 5
    assert len(m["lr_history"]) == len(expected)
    for got, want in zip(m["lr_history"], expected):
        assert got == pytest.approx(want, rel=1e-12)
    assert 0.0 <= m["parity_accuracy"] <= 1.0
    assert_png(tmp_path / "finetune.png")


def test_gan_writes_an_image_grid(tmp_path):
    plot = tmp_path / "gan.png"
    m = example("gan_digits").main(["--fast", "--quiet", "--plot", str(plot)])
    assert_png(plot)
    assert m["discriminator_frozen_ok"]
    assert math.isfinite(m["d_loss"]) and math.isfinite(m["g_loss"])
    assert 0.0 < m["d_real"] < 1.0 and 0.0 < m["d_fake"] < 1.0


def test_autoencoder_decoder_fine_tuning_recovers_accuracy(tmp_path):
    m = example("autoencoder_channel").main(["--fast", "--quiet", "--epochs", "10", "--hidden", "32",
                                             "--plot", str(tmp_path / "channel.png")])
    assert m["final_loss"] < 0.5 * m["first_loss"]
    assert m["encoder_unchanged"]
    assert m["fine_tune_final_loss"] < m["fine_tune_first_loss"]
    assert m["changed_channel_accuracy_after"] > m["changed_channel_accuracy_before"] + 0.1
    assert_png(tmp_path / "channel.png")


def test_char_gru_learns_and_samples():
    char_gru = example("char_gru")
    m = char_gru.main(["--fast", "--quiet", "--epochs", "3"])
    assert m["final_loss"] < m["first_loss"] - 0.3
    assert m["val_loss"] < m["uniform_loss"]
    assert isinstance(m["sample"], str) and m["sample"].startswith(char_gru.PROMPT)
    assert len(m["sample"]) == len(char_gru.PROMPT) + 20


def test_basics(tmp_path):
    m = example("basics").main(["--fast", "--quiet", "--plot", str(tmp_path / "basics.png")])
    # custom Functions: gradients equal autograd's through the built-in ops (gradcheck ran inside)
    for name in ("Exp", "MyReLU", "LinearFunction"):
        assert m[f"grad_diff_{name}"] < 1e-12
    assert m["linreg_final_loss"] < 1e-2 * m["linreg_first_loss"]
    assert m["linreg_w_error"] < 0.05 and m["linreg_b_error"] < 0.05
    assert m["poisson_final_loss"] < m["poisson_first_loss"]
    for key, value in m.items():
        if key.startswith("final_loss/"):
            assert value < math.log(10), key  # every optimizer/schedule beat the initial ~uniform guess
    steps = 30
    lrs = m["lr_curves"]
    assert lrs["constant"] == pytest.approx([0.05] * steps)
    assert lrs["StepLR"] == pytest.approx([0.05 * 0.3 ** (i // 10) for i in range(steps)])
    assert lrs["CosineAnnealingLR"] == pytest.approx(
        [0.05 * (1 + math.cos(math.pi * i / steps)) / 2 for i in range(steps)], rel=1e-9)
    one_cycle = lrs["OneCycleLR"]
    assert one_cycle[0] == pytest.approx(0.2 / 25) and max(one_cycle) == pytest.approx(0.2, rel=1e-3)
    assert one_cycle[-1] == pytest.approx(0.2 / 25 / 1e4, rel=1e-6)
    assert_png(tmp_path / "basics.png")


def test_benchmark_reports_throughput():
    m = example("benchmark").main(["--fast", "--steady", "3"])
    assert m["steady_compilations_after_first_step"] == 0  # nothing compiles in a training loop's steps
    assert 0 < m["steady_rss_mib_100"] <= m["steady_rss_mib_end"] * 2
    for name in ("mlp", "lenet", "resnet", "char_gru"):
        assert m[f"{name}_gpunet_steps_per_s"] > 0
        if m[f"{name}_torch_steps_per_s"] is not None:
            ratio = m[f"{name}_gpunet_steps_per_s"] / m[f"{name}_torch_steps_per_s"]
            assert m[f"{name}_ratio"] == pytest.approx(ratio)


def test_benchmark_elementwise_reports_every_row():
    rows = example("benchmark_elementwise").main(["--fast"])
    assert {(r["op"], r["pass"]) for r in rows} == {(op, p) for op in example("benchmark_elementwise").OPS
                                                    for p in ("fwd", "fwd+bwd")}
    for r in rows:
        assert r["gpunet_ms"] > 0
        if r["torch_ms"] is not None:
            assert r["ratio"] == pytest.approx(r["gpunet_ms"] / r["torch_ms"])


def test_benchmark_ops_reports_every_row():
    rows = example("benchmark_ops").main(["--fast"])
    assert [r["op"] for r in rows] == list(example("benchmark_ops").CASES)
    for r in rows:
        assert r["gpunet_ms"] > 0
        if r["torch_ms"] is not None:
            assert r["ratio"] == pytest.approx(r["gpunet_ms"] / r["torch_ms"])


def test_benchmark_data_reports_every_row():
    rows = example("benchmark_data").main(["--fast"])
    assert [r["case"] for r in rows] == list(example("benchmark_data").cases(True))
    for r in rows:
        assert r["gpunet"] > 0 and r["unit"] in ("ms", "s")
        if r["torch"] is not None:
            assert r["ratio"] == pytest.approx(r["gpunet"] / r["torch"])


def test_benchmark_softmax_reports_every_row():
    rows = example("benchmark_softmax").main(["--fast"])
    ops = {(r["op"], r["pass"]) for r in rows}
    assert {(op, p) for op in ("softmax", "log_softmax", "cross_entropy") for p in ("fwd", "fwd+bwd")} < ops
    assert ("word-LM step", "train") in ops
    for r in rows:
        assert r["gpunet_ms"] > 0
        if r["torch_ms"] is not None:
            assert r["ratio"] == pytest.approx(r["gpunet_ms"] / r["torch_ms"])


def test_example_on_simulated_cuda():
    if not gpunet.cuda.is_available():
        pytest.skip("no cuda device (set GPUNET_CUDA_SIM=1 to simulate one)")
    m = example("autoencoder_channel").main(["--fast", "--quiet", "--device", "cuda", "--epochs", "1",
                                          "--steps-per-epoch", "10"])  # 20 steps: ~2 s each here
    assert m["final_loss"] < m["first_loss"]
    assert m["encoder_unchanged"]


@pytest.mark.slow
def test_lenet_default_run_reaches_97_percent(tmp_path):
    m = example("lenet_digits").main(["--quiet", "--checkpoint", str(tmp_path / "lenet.pt")])
    assert m["test_accuracy"] >= 0.97
    assert m["reloaded_test_accuracy"] == m["test_accuracy"]


def test_train_ddp_runs_as_a_world_of_one(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    m = example("train_ddp").main(["--fast", "--quiet"])
    assert m["ranks"] == 1 and m["steps"] == 2 * 3  # 96 digits, batches of 32, two epochs
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["allreduce_ms_per_step"] == 0.0
    assert not gpunet.distributed.is_initialized()
