"""Per-op overhead of gpunet's autograd, side by side with PyTorch CPU in the same run.

    python examples/benchmark_overhead.py [--repeat 5]

Measures (median over repeats, microseconds per op):
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


def _time(fn, repeat):
    fn()
    runs = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(lib, repeat):
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
        "add, no grad": _time(adds_no_grad, repeat) / n * 1e6,
        "add, recorded": _time(adds, repeat) / n * 1e6,
        "chain + backward": _time(lambda: [chain() for _ in range(20)], repeat) / (20 * 101) * 1e6,
    }
    for length in (100, 1_000, 10_000):
        times = 30_000 // length  # the same 30,000 ops per measurement at every length
        rows[f"{length:,} adds + backward"] = (
            _time(lambda: [long_chain(length) for _ in range(times)], repeat) / (times * (length + 1)) * 1e6)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ours = measure(gpunet, args.repeat)
    theirs = measure(torch, args.repeat) if torch is not None else {}
    print(f"{'us per op':<26} {'gpunet':>8} {'pytorch':>8} {'ratio':>6}")
    for key, value in ours.items():
        ref = theirs.get(key)
        ratio = f"{value / ref:6.2f}" if ref else "     -"
        print(f"{key:<26} {value:8.2f} {ref if ref else float('nan'):8.2f} {ratio}")
    print("ratio = gpunet / PyTorch (below 1 is faster than PyTorch)")


if __name__ == "__main__":
    main()
