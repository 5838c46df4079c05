"""python -m gpunet.gpucheck [--out DIR]: what one NVIDIA GPU can prove about gpunet, in one command.

Run from a clone of the repository, on a machine with an NVIDIA GPU and ``pip install -e ".[test,cuda]"``
(PyTorch with CUDA, if installed, is timed beside gpunet). Within about 8 minutes, each step a subprocess
with its own time limit:

1. ``tests``: the test suite on CuPy arrays (``GPUNET_TEST_REAL_GPU=1 python -m pytest``), the
   ``gpu``-marked tests included;
2. ``compile_check``: ``python -m kernels.compile_check`` for sm_80, sm_90 and the device's own target;
3. ``kernels_bench``: ``python -m kernels.bench --device cuda --json`` (conv, pooling, optimizer kernels
   against the device's measured GEMM rate and bandwidth, and PyTorch's CUDA kernels when present);
4. ``training_steps``: ``python examples/benchmark.py --device cuda`` (MLP and LeNet steps/s, beside
   PyTorch on cuda when it has a GPU).

Writes ``gpucheck.json`` (everything) and ``gpucheck.md`` (a summary to paste into a note) in --out, and
exits non-zero when a step failed or ran out of time. Without a usable GPU it says why and exits 2.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def device_facts():
    """The GPU and the software around it, or raise RuntimeError saying why there is no usable GPU."""
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError(f"CuPy is not installed ({exc}): pip install -e '.[cuda]'") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device: CuPy raises its own CUDARuntimeError
        raise RuntimeError(f"no CUDA device is usable: {exc}") from None
    if count < 1:
        raise RuntimeError("no CUDA device is visible")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    major, minor = props["major"], props["minor"]
    facts = {"gpu": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
             "compute_capability": f"{major}{minor}", "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
             "driver": cupy.cuda.runtime.driverGetVersion(), "runtime": cupy.cuda.runtime.runtimeGetVersion(),
             "cupy": cupy.__version__, "python": platform.python_version()}
    for name in ("numba", "numba_cuda", "torch"):
        try:
            module = __import__(name)
            facts[name] = module.__version__
        except ImportError:
            facts[name] = None
    if facts["torch"]:
        import torch
        facts["torch_cuda"] = torch.cuda.is_available()
    return facts


def steps(out, facts):
    """[(name, command, extra environment, time limit in s, the file of its figures, or None)]."""
    py = sys.executable
    from kernels.compile_check.ptx import SM_LIMITS

    ccs = ["80", "90"]
    own = facts["compute_capability"]
    if own not in ccs and (int(own[:-1]), int(own[-1])) in SM_LIMITS:
        ccs.append(own)
    torch_device = "cuda" if facts.get("torch_cuda") else "cpu"
    return [
        ("tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", f"{out}/tests.xml"],
         {"GPUNET_TEST_REAL_GPU": "1", "GPUNET_CUDA_SIM": "0"}, 270, "tests.xml"),
        ("compile_check", [py, "-m", "kernels.compile_check", "--cc", ",".join(ccs),
                           "--json", f"{out}/compile_check.json"], {}, 90, "compile_check.json"),
        ("kernels_bench", [py, "-m", "kernels.bench", "--device", "cuda", "--json"], {}, 120,
         "kernels_bench.out"),
        ("training_steps", [py, os.path.join(REPO, "examples", "benchmark.py"), "--device", "cuda",
                            "--torch-device", torch_device, "--quiet",
                            "--json", f"{out}/training_steps.json"],
         {}, 90, "training_steps.json"),
    ]


def run_step(out, name, command, env, limit):
    """Run one step, its output in out/<name>.out and .err; its status ('ok', 'failed', 'timed out'),
    wall time and the tail of its output."""
    start = time.perf_counter()
    paths = [os.path.join(out, f"{name}.{stream}") for stream in ("out", "err")]
    with open(paths[0], "w") as stdout, open(paths[1], "w") as stderr:
        try:
            code = subprocess.run(command, cwd=REPO, env={**os.environ, **env}, stdout=stdout, stderr=stderr,
                                  timeout=limit).returncode
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {limit} s"
    tail = ""
    for path in paths:
        with open(path) as f:
            tail += f.read()[-3000:]
    return {"name": name, "command": " ".join(command), "status": status,
            "wall_s": round(time.perf_counter() - start, 1), "output_tail": tail}


def read_figures(out, file):
    """A step's figures: the JSON it wrote, or the test counts of its JUnit XML; None when there are none."""
    path = None if file is None else os.path.join(out, file)
    if path is None or not os.path.exists(path):
        return None
    try:
        if file.endswith(".xml"):
            suite = ET.parse(path).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        with open(path) as f:
            return json.load(f)
    except (ValueError, ET.ParseError, OSError) as exc:
        return {"unreadable": str(exc)}


def _facts_line(facts):
    return "; ".join(f"{k} {v}" for k, v in facts.items())


def markdown(facts, results):
    lines = ["# gpunet gpucheck", "", _facts_line(facts), "",
             "| step | status | wall s |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['status']} | {r['wall_s']} |" for r in results]
    by_name = {r["name"]: r.get("figures") for r in results}
    tests = by_name.get("tests")
    if tests and "tests" in tests:
        lines += ["", f"Tests on CuPy: {tests['tests']} run, {tests['failures']} failed, {tests['errors']} "
                      f"errors, {tests['skipped']} skipped."]
    check = by_name.get("compile_check")
    if check and "rows" in check:
        findings = check["findings"]
        lines += ["", f"Compile check ({', '.join(check['ccs'])}): "
                  + (f"{len(findings)} findings: " + "; ".join(findings) if findings else "no findings")]
    bench = by_name.get("kernels_bench")
    if bench and "rows" in bench:
        lines += ["", f"Kernels on the device (GEMM {bench['roof'].get('GFLOP/s')} GFLOP/s, bandwidth "
                      f"{bench['roof'].get('GB/s')} GB/s measured in the run):", "",
                  "| kernel | shape | ms | %roof | torch ms | ratio |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['kernel']} | {r['shape']} | {r['ms']:.3f} | {r['pct_roof']} | {r['torch_ms']} | "
                  f"{r['ratio']} |" for r in bench["rows"]]
    train = by_name.get("training_steps")
    if train and "mlp_gpunet_steps_per_s" in train:
        lines += ["", f"Training steps/s on cuda (PyTorch on {train['torch_device']}):"]
        lines += [f"- {m}: gpunet {train[f'{m}_gpunet_steps_per_s']:.1f}, "
                  f"PyTorch {train[f'{m}_torch_steps_per_s']}, ratio {train[f'{m}_ratio']}"
                  for m in ("mlp", "lenet")]
    for r in results:
        if r["status"] != "ok":
            lines += ["", f"## {r['name']}: {r['status']}", "", "```", r["output_tail"][-2000:], "```"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gpunet.gpucheck", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpucheck", help="where gpucheck.json and gpucheck.md go")
    parser.add_argument("--only", help="steps to run, comma-separated: tests,compile_check,kernels_bench,"
                                       "training_steps (default: all)")
    args = parser.parse_args(argv)
    try:
        facts = device_facts()
    except RuntimeError as exc:
        print(f"gpunet.gpucheck needs one NVIDIA GPU: {exc}", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    print(_facts_line(facts), flush=True)
    results = []
    for name, command, env, limit, file in steps(out, facts):
        if args.only and name not in args.only.split(","):
            continue
        print(f"[gpucheck] {name} (limit {limit} s): {' '.join(command)}", flush=True)
        result = run_step(out, name, command, env, limit)
        result["figures"] = read_figures(out, file)
        print(f"[gpucheck] {name}: {result['status']} in {result['wall_s']} s", flush=True)
        results.append(result)
    with open(os.path.join(out, "gpucheck.json"), "w") as f:
        json.dump({"device": facts, "steps": results}, f, indent=1)
    with open(os.path.join(out, "gpucheck.md"), "w") as f:
        f.write(markdown(facts, results))
    print(f"[gpucheck] wrote {out}/gpucheck.json and {out}/gpucheck.md")
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
