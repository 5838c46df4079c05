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


def test_blas_note_names_openblas_kernels_and_what_forced_them(monkeypatch):
    from kernels.bench import roof
    core = roof.openblas_core()
    if core is None:  # NumPy built against another BLAS: the note says so
        assert roof.blas_note().startswith("BLAS: not OpenBLAS")
        return
    assert core and core.isprintable()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert roof.blas_note() == f"BLAS: OpenBLAS, {core} kernels (forced by OPENBLAS_CORETYPE=Haswell)"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert roof.blas_note().endswith("(OpenBLAS's own CPU detection)")


def test_bench_softmax_rows_run_in_the_simulator(capsys):
    main(["--device", "cuda", "--quick", "--json", "--only", "softmax"])
    report = json.loads(capsys.readouterr().out)
    kernels = {r["kernel"] for r in report["rows"]}
    ops = ("softmax", "log_softmax", "cross_entropy")
    assert {f"{op} {p}" for op in ops for p in ("fwd", "fwd+bwd")} == kernels
    assert all(r["ms"] > 0 for r in report["rows"])
