"""Per-op overhead of gpunet's autograd, side by side with PyTorch CPU in the same run.

    python examples/benchmark_overhead.py [--repeat 5]

Measures (median over repeats, microseconds per op):
- add, no grad:  10,000 adds of two 4-element tensors under no_grad
- add, recorded: 10,000 adds of two 4-element tensors that require grad (graph recorded)
- chain + backward: a 100-op chain (x * c + b, 50 times) and its backward, per op
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

    return {
        "add, no grad": _time(adds_no_grad, repeat) / n * 1e6,
        "add, recorded": _time(adds, repeat) / n * 1e6,
        "chain + backward": _time(lambda: [chain() for _ in range(20)], repeat) / (20 * 101) * 1e6,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ours = measure(gpunet, args.repeat)
    theirs = measure(torch, args.repeat) if torch is not None else {}
    print(f"{'us per op':<20} {'gpunet':>8} {'pytorch':>8} {'ratio':>6}")
    for key, value in ours.items():
        ref = theirs.get(key)
        ratio = f"{value / ref:6.2f}" if ref else "     -"
        print(f"{key:<20} {value:8.2f} {ref if ref else float('nan'):8.2f} {ratio}")
    print("ratio = gpunet / PyTorch (below 1 is faster than PyTorch)")


if __name__ == "__main__":
    main()
