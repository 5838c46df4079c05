"""gpunet.gpucheck: refuses clearly without a GPU; runs its steps, keeps going past a failed or slow one, and
writes the JSON and markdown summaries (the steps replaced by small programs, as no GPU is here)."""
import json
import sys

import pytest

from gpunet import gpucheck

FACTS = {"gpu": "Test GPU", "compute_capability": "90", "cupy": "14.2.0", "torch_cuda": False}

JUNIT = '<testsuites><testsuite tests="7" failures="1" errors="0" skipped="2"/></testsuites>'
COMPILE = {"ccs": ["sm_80", "sm_90"], "rows": [], "findings": ["cuda.pool._avg_bwd float32 sm_90: spills"]}
BENCH = {"roof": {"GFLOP/s": 50000.0, "GB/s": 4000.0},
         "rows": [{"kernel": "adam_step", "shape": "flat 11.7M", "ms": 0.05, "pct_roof": 91, "torch_ms": 0.06,
                   "ratio": 0.83}]}
TRAIN = {"torch_device": "cpu",
         "mlp_gpunet_steps_per_s": 900.0, "mlp_torch_steps_per_s": 500.0, "mlp_ratio": 1.8,
         "lenet_gpunet_steps_per_s": 400.0, "lenet_torch_steps_per_s": None, "lenet_ratio": None}


def test_without_a_gpu_it_says_why_and_exits_2(tmp_path, capsys):
    try:
        gpucheck.device_facts()
    except RuntimeError:
        pass
    else:
        pytest.skip("a GPU is usable here: gpucheck would run for real")
    assert gpucheck.main(["--out", str(tmp_path)]) == 2
    assert "gpunet.gpucheck needs one NVIDIA GPU:" in capsys.readouterr().err
    assert not (tmp_path / "gpucheck.json").exists()


def _writer(path, text):
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').write({text!r})"]


def test_runs_every_step_and_summarises(tmp_path, monkeypatch):
    def fake_steps(out, facts):
        return [("tests", _writer(tmp_path / "tests.xml", JUNIT), {}, 30, "tests.xml"),
                ("compile_check", _writer(tmp_path / "compile_check.json", json.dumps(COMPILE)), {}, 30,
                 "compile_check.json"),
                ("kernels_bench", [sys.executable, "-c", f"print({json.dumps(BENCH)!r})"], {}, 30,
                 "kernels_bench.out"),
                ("training_steps", [sys.executable, "-c", "import sys, time; print('warming up'); "
                                    "sys.stdout.flush(); time.sleep(30)"], {}, 1, "training_steps.json"),
                ("broken", [sys.executable, "-c", "raise SystemExit('no such thing')"], {}, 30, None)]

    monkeypatch.setattr(gpucheck, "device_facts", lambda: dict(FACTS))
    monkeypatch.setattr(gpucheck, "steps", fake_steps)
    assert gpucheck.main(["--out", str(tmp_path)]) == 1  # one step failed, one timed out

    summary = json.loads((tmp_path / "gpucheck.json").read_text())
    status = {s["name"]: s["status"] for s in summary["steps"]}
    assert status == {"tests": "ok", "compile_check": "ok", "kernels_bench": "ok",
                      "training_steps": "timed out after 1 s", "broken": "failed (exit 1)"}
    figures = {s["name"]: s["figures"] for s in summary["steps"]}
    assert figures["tests"] == {"tests": 7, "failures": 1, "errors": 0, "skipped": 2}
    assert figures["kernels_bench"] == BENCH and figures["compile_check"] == COMPILE
    assert summary["device"]["gpu"] == "Test GPU"

    md = (tmp_path / "gpucheck.md").read_text()
    assert "Tests on CuPy: 7 run, 1 failed, 0 errors, 2 skipped." in md
    assert "Compile check (sm_80, sm_90): 1 findings: cuda.pool._avg_bwd float32 sm_90: spills" in md
    assert "| adam_step | flat 11.7M | 0.050 | 91 | 0.06 | 0.83 |" in md
    assert "## training_steps: timed out after 1 s" in md and "warming up" in md
    assert "## broken: failed (exit 1)" in md and "no such thing" in md


def test_only_runs_the_named_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(gpucheck, "device_facts", lambda: dict(FACTS))
    monkeypatch.setattr(gpucheck, "steps", lambda out, facts: [
        ("tests", [sys.executable, "-c", "pass"], {}, 30, "tests.xml"),
        ("training_steps", _writer(tmp_path / "training_steps.json", json.dumps(TRAIN)), {}, 30,
         "training_steps.json")])
    assert gpucheck.main(["--out", str(tmp_path), "--only", "training_steps"]) == 0
    summary = json.loads((tmp_path / "gpucheck.json").read_text())
    assert [s["name"] for s in summary["steps"]] == ["training_steps"]
    md = (tmp_path / "gpucheck.md").read_text()
    assert "- mlp: gpunet 900.0, PyTorch 500.0, ratio 1.8" in md


def test_real_steps_name_the_devices_target_and_torch_cuda(tmp_path):
    names = [s[0] for s in gpucheck.steps(str(tmp_path), {**FACTS, "compute_capability": "80"})]
    assert names == ["tests", "compile_check", "kernels_bench", "training_steps"]
    commands = {s[0]: s[1] for s in gpucheck.steps(str(tmp_path), {**FACTS, "torch_cuda": True})}
    assert commands["compile_check"][commands["compile_check"].index("--cc") + 1] == "80,90"
    assert commands["training_steps"][commands["training_steps"].index("--torch-device") + 1] == "cuda"
    tests = gpucheck.steps(str(tmp_path), FACTS)[0]
    assert tests[2]["GPUNET_TEST_REAL_GPU"] == "1"
