"""python -m kernels.bench [--device cpu|cuda] [--json] [--quick] [--only conv,pool,optim,softmax]"""
import argparse
import importlib
import json
import sys

from kernels.bench import roof as roof_mod

AREAS = ("conv", "pool", "optim", "softmax")


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(rows, roof, device):
    print(f"device: {device}   ceilings measured in this run: GEMM {_fmt(roof['GFLOP/s'], '.1f')} GFLOP/s, "
          f"in-place bandwidth {_fmt(roof['GB/s'], '.1f')} GB/s")
    if device == "cpu":
        print(roof_mod.blas_note())
    header = (f"{'kernel':<34} {'shape':<34} {'ms':>9} {'rate':>14} {'%roof':>6} "
              f"{'torch ms':>9} {'ratio':>6}  note")
    print(header)
    print("-" * len(header))
    for r in rows:
        rate = f"{r['rate']:.1f} {r['unit']}"
        print(f"{r['kernel']:<34} {r['shape']:<34} {r['ms']:>9.3f} {rate:>14} "
              f"{_fmt(r['pct_roof'], '.0f'):>6} {_fmt(r['torch_ms'], '.3f'):>9} "
              f"{_fmt(r['ratio'], '.2f'):>6}  {r['note']}")
    print("ratio = gpunet kernels time / PyTorch time (below 1 is faster than PyTorch)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernels.bench", description=__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller ceilings")
    parser.add_argument("--only", default=",".join(AREAS),
                        help="comma-separated areas: conv,pool,optim,softmax")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        from kernels.cuda._launch import available, unavailable_reason
        if not available():
            sys.exit(f"kernels.bench: cannot run on cuda: {unavailable_reason()}")
    roof = roof_mod.measure(args.device, args.quick)
    rows = []
    for area in args.only.split(","):
        module = importlib.import_module(f"kernels.bench.{area}")
        rows.extend(module.rows(args.device, args.quick, roof))
    if args.json:
        blas = roof_mod.blas_note() if args.device == "cpu" else None
        print(json.dumps({"device": args.device, "roof": roof, "blas": blas, "rows": rows}, indent=2))
    else:
        print_table(rows, roof, args.device)


if __name__ == "__main__":
    main()
