"""`python -m kernels.bench` runs end to end (in the CUDA simulator: tiny shapes, no PyTorch columns)."""
import json

from kernels.bench.__main__ import main


def test_bench_runs_in_the_simulator_and_prints_json(capsys):
    main(["--device", "cuda", "--quick", "--json", "--only", "conv,pool,optim"])
    report = json.loads(capsys.readouterr().out)
    kernels = [r["kernel"] for r in report["rows"]]
    assert report["device"] == "cuda"
    expected = {"conv2d fwd", "conv2d fwd+bwd", "max_pool2d 2x2/2 fwd+bwd", "adaptive_avg_pool2d -> 1x1 fwd"}
    assert expected <= set(kernels)
    assert all(r["ms"] > 0 for r in report["rows"])
