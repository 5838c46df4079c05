"""python -m kernels.compile_check [--json PATH] [--cc 80,90]

Compiles every CUDA kernel of the package for real GPUs, with the argument types its launchers pass, and
prints what ptxas and the PTX say about each (see kernels/compile_check/__init__.py). Exit status: 0 all
clean; 1 a finding (a kernel that does not compile, spills, uses local memory, computes in float64 in a
float32 instantiation, or a declared kernel/dtype no launcher reached); 2 the tools are missing.
"""
import argparse
import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

from kernels.compile_check.record import UNREGISTERED, coverage_problems, float_dtype

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds kernels/
_COLUMNS = (("kernel", "<34"), ("dtype", "<7"), ("cc", "<5"), ("regs", ">4"), ("spill st/ld", ">11"),
            ("stack", ">5"), ("lmem", ">4"), ("smem", ">5"), ("block", ">5"), ("occupancy", ">12"),
            ("f64", ">4"), ("status", "<7"))


def _simulator_off():
    # this process compiles. Numba reads NUMBA_ENABLE_CUDASIM when numba is first imported, and
    # kernels/__init__.py sets it from GPUNET_CUDA_SIM (which the test suite turns on)
    for var in ("GPUNET_CUDA_SIM", "NUMBA_ENABLE_CUDASIM"):
        os.environ.pop(var, None)
    if "numba.cuda" in sys.modules and sys.modules["numba"].config.ENABLE_CUDASIM:
        sys.exit("kernels.compile_check: numba.cuda was imported with the simulator on; "
                 "run the check in a fresh process")
    if "numba" in sys.modules:
        sys.modules["numba"].config.ENABLE_CUDASIM = 0


def _record():
    """Phase 1 in a subprocess with the simulator on: {"launches": [...], "declared": {...}}."""
    path = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, GPUNET_CUDA_SIM="1", PYTHONPATH=path)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "launches.pkl")
        done = subprocess.run([sys.executable, "-m", "kernels.compile_check.record", out], env=env,
                              check=False)
        if done.returncode != 0:
            sys.exit(f"kernels.compile_check: recording the launches failed (exit status {done.returncode})")
        with open(out, "rb") as f:
            return pickle.load(f)  # written just now by our own subprocess


def _compile_all(recorded, ccs, ptxas):
    from kernels.compile_check.ptx import check
    from kernels.cuda._launch import KERNELS

    rows, signatures = [], {}
    for launch in recorded["launches"]:
        name, argtypes = launch["kernel"], launch["argtypes"]
        if name.startswith(UNREGISTERED):
            continue  # reported by coverage_problems: there is no declared kernel to compile
        importlib.import_module(name.rsplit(".", 1)[0])  # declares the module's kernels in KERNELS
        dtype = float_dtype(argtypes)
        number = signatures[name, dtype] = signatures.get((name, dtype), 0) + 1
        label = name.removeprefix("kernels.") + (f" #{number}" if number > 1 else "")
        for threads in launch["threads"]:
            for cc in ccs:
                row = check(KERNELS[name][0].py_func, argtypes, cc, threads, dtype, ptxas)
                rows.append({"kernel": label, "signature": f"({', '.join(map(str, argtypes))})", **row})
    return rows


def _cells(r):
    if "registers" not in r:  # did not compile
        return (r["kernel"], r["dtype"], r["cc"], *["-"] * 5, r["threads"], "-", "-", "FAILED")
    occupancy = f"{r['occupancy']:.0%} ({r['blocks_per_sm']} blk)"
    return (r["kernel"], r["dtype"], r["cc"], r["registers"], f"{r['spill_stores']}/{r['spill_loads']}",
            r["stack"], r["local"], r["shared"], r["threads"], occupancy, r["f64"],
            "FLAGGED" if r["problems"] else "ok")


def _print_table(rows):
    header = " ".join(format(name, spec) for name, spec in _COLUMNS).rstrip()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(" ".join(format(cell, spec) for cell, (_, spec) in zip(_cells(r), _COLUMNS)).rstrip())
    print("regs: registers per thread; spills, stack (local memory), lmem, smem (shared memory): bytes;\n"
          "occupancy: resident warps / 64 per SM at that block size (blocks per SM); "
          "f64: PTX instructions with an .f64 type")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernels.compile_check",
                                     description="Compile every CUDA kernel for real GPUs and inspect it.")
    parser.add_argument("--json", metavar="PATH", help="also write the table and the findings as JSON")
    parser.add_argument("--cc", default="80,90", help="compute capabilities, e.g. 80,90 (the default)")
    args = parser.parse_args(argv)
    _simulator_off()
    from kernels.compile_check.ptx import SM_LIMITS, find_ptxas, ptxas_version

    ccs = [(int(c[:-1]), int(c[-1])) for c in args.cc.split(",")]
    if any(cc not in SM_LIMITS for cc in ccs):
        parser.error(f"--cc {args.cc}: occupancy limits are known for {sorted(SM_LIMITS)} only")
    try:
        import numba_cuda
        from numba.cuda import compile_ptx  # noqa: F401 (the compiler entry point the check relies on)
    except ImportError as exc:
        print(f"kernels.compile_check: needs numba-cuda (pip install 'numba-cuda[cu12]'): {exc}",
              file=sys.stderr)
        return 2
    ptxas = find_ptxas()
    if ptxas is None:
        print("kernels.compile_check: ptxas not found. It ships in the nvidia-cuda-nvcc-cu12 wheel that "
              "'numba-cuda[cu12]' installs; else set CUDA_HOME or put ptxas on PATH", file=sys.stderr)
        return 2

    start = time.perf_counter()
    recorded = _record()
    recorded_s = time.perf_counter() - start
    rows = _compile_all(recorded, ccs, ptxas)
    compiled_s = time.perf_counter() - start - recorded_s
    versions = f"numba-cuda {numba_cuda.__version__}, ptxas {ptxas_version(ptxas)} ({ptxas})"
    print(f"{versions}\n{len(recorded['launches'])} kernel signatures recorded in {recorded_s:.1f} s "
          f"(simulator), compiled for {args.cc} in {compiled_s:.1f} s")
    _print_table(rows)
    findings = coverage_problems(recorded)
    findings += [f"{r['kernel']} {r['dtype']} {r['cc']}: {p}" for r in rows for p in r["problems"]]
    print("\n".join(["", "FINDINGS:", *(f"- {f}" for f in findings)]) if findings else "\nno findings")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "ccs": [f"sm_{a}{b}" for a, b in ccs], "rows": rows,
                       "findings": findings}, f, indent=1)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
