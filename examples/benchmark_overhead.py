"""Per-op overhead of gpunet's autograd, side by side with PyTorch CPU in the same run.

    python examples/benchmark_overhead.py [--repeat 5]

Measures (microseconds per op, the median over repeats; within each repeat gpunet and PyTorch run in turn,
each after a full garbage collection):
- add, no grad:  10,000 adds of two 4-element tensors under no_grad
- add, recorded: 10,000 adds of two 4-element tensors that require grad (graph recorded)
- chain + backward: a 100-op chain (x * c + b, 50 times) and its backward, per op
- chain of N adds + backward, N = 100, 1,000, 10,000: a graph that long alive at once (long sequences,
  big models), where Python's cyclic garbage collector rescans whatever of the graph it holds
"""
import argparse
import gc
import statistics
import time

import gpunet

try:
    import torch
except ImportError:
    torch = None


def _interleaved(fns, repeat):
    """Median seconds of each fn over `repeat` rounds, the fns in turn within every round (so the shared
    machine's drifting load meets both libraries alike), each after a full collection."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def workloads(lib):
    """{row: (fn, ops it runs)} for one library."""
    a = lib.ones(4, requires_grad=True)
    b = lib.ones(4, requires_grad=True)
    n = 10_000

    def adds():
        for _ in range(n):
            a + b

    def adds_no_grad():
        with lib.no_grad():
            for _ in range(n):
                a + b

    def chain():
        x = a
        for _ in range(50):
            x = x * 1.0001 + b
        x.sum().backward()

    def long_chain(length):
        x = a
        for _ in range(length):
            x = x + b
        x.sum().backward()

    rows = {
        "add, no grad": (adds_no_grad, n),
        "add, recorded": (adds, n),
        "chain + backward": (lambda: [chain() for _ in range(20)], 20 * 101),
    }
    for length in (100, 1_000, 10_000):
        times = 30_000 // length  # the same 30,000 ops per measurement at every length
        def run(length=length, times=times):
            for _ in range(times):
                long_chain(length)
        rows[f"{length:,} adds + backward"] = (run, times * (length + 1))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    libs = [gpunet] + ([torch] if torch is not None else [])
    tables = [workloads(lib) for lib in libs]
    print(f"{'us per op':<26} {'gpunet':>8} {'pytorch':>8} {'ratio':>6}")
    for key, (_, ops) in tables[0].items():
        per_op = [t * 1e6 / ops for t in _interleaved([table[key][0] for table in tables], args.repeat)]
        ours, ref = per_op[0], per_op[1] if len(per_op) > 1 else None
        ratio = f"{ours / ref:6.2f}" if ref else "     -"
        print(f"{key:<26} {ours:8.2f} {ref if ref else float('nan'):8.2f} {ratio}", flush=True)
    print("ratio = gpunet / PyTorch (below 1 is faster than PyTorch)")


if __name__ == "__main__":
    main()
