"""softmax, log_softmax and cross_entropy over wide rows: gpunet and PyTorch (CPU) side by side in one run.

    python examples/benchmark_softmax.py [--rounds 7] [--dtype float32] [--threads N] [--no-step] [--fast]

For each shape (rows x classes, the class dim last) it times, through the public API of each library:
- fwd: F.softmax(x, -1), F.log_softmax(x, -1), F.cross_entropy(x, target) under no_grad;
- fwd+bwd: the same with x requiring grad, then a backward (softmax and log_softmax: of a fixed random
  gradient; cross_entropy: of the mean loss).
It then times one training step of a small word-level language model (700 tokens of a 9,408-word
vocabulary: embedding 9408x200 -> Linear 200x200 + tanh -> Linear 200x9408 -> cross_entropy, SGD), whose
time is mostly the wide cross_entropy and the two GEMMs around it.
gpunet and PyTorch run in turn within every round (kernels.bench.common.interleaved_times); each figure
is the median over the rounds. ratio = gpunet ms / PyTorch ms (below 1, gpunet is faster).
--threads N limits both libraries to N threads (PyTorch's, Numba's and BLAS's pools: on a machine
shared with other work, one thread each is the steadier comparison). OpenBLAS runs the kernel set that
kernels.bench.roof.blas_note() names: an OPENBLAS_CORETYPE in the environment forces it (unset it and
OPENBLAS_L2_SIZE for this command to let OpenBLAS choose).
"""
import argparse
import sys

import numpy as np

import gpunet
from kernels.bench.common import BLAS_SETTLE_S, interleaved_times, keep_heap
from kernels.bench.roof import blas_note

try:
    import torch
except ImportError:
    torch = None

SHAPES = [(700, 9408), (64, 1000), (4096, 512), (32, 32000)]
FAST_SHAPES = [(70, 941), (8, 100)]


def _cases(lib, x_np, t_np, g_np):
    """{name: (fwd, fwd_bwd)} for one library over the same data."""
    F = lib.nn.functional
    x = lib.tensor(x_np)
    xg = lib.tensor(x_np, requires_grad=True)
    t = lib.tensor(t_np)
    g = lib.tensor(g_np)

    def fwd(op):
        def run():
            with lib.no_grad():
                return op(x)
        return run

    def fwd_bwd(op, seed):
        def run():
            xg.grad = None
            y = op(xg)
            y.backward(seed)
        return run

    softmax = lambda a: F.softmax(a, dim=-1)  # noqa: E731
    log_softmax = lambda a: F.log_softmax(a, dim=-1)  # noqa: E731
    cross_entropy = lambda a: F.cross_entropy(a, t)  # noqa: E731
    return {"softmax": (fwd(softmax), fwd_bwd(softmax, g)),
            "log_softmax": (fwd(log_softmax), fwd_bwd(log_softmax, g)),
            "cross_entropy": (fwd(cross_entropy), fwd_bwd(cross_entropy, None))}


def _word_lm_step(lib, vocab, tokens, width):
    """One SGD step of embedding -> Linear + tanh -> Linear(width, vocab) -> cross_entropy."""
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Embedding(vocab, width), nn.Linear(width, width), nn.Tanh(),
                          nn.Linear(width, vocab))
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    words = lib.tensor(rng.integers(0, vocab, tokens))
    targets = lib.tensor(rng.integers(0, vocab, tokens))

    def step():
        loss = nn.functional.cross_entropy(model(words), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def _limit_threads(n, use_torch):
    import numba
    from threadpoolctl import threadpool_limits
    threadpool_limits(n)  # BLAS (and OpenMP) pools loaded so far: NumPy's OpenBLAS, PyTorch's
    numba.set_num_threads(n)
    if use_torch:
        torch.set_num_threads(n)


def _print_row(name, shape, pass_, ours, theirs):
    ratio = f"{ours / theirs:6.2f}" if theirs else f"{'-':>6s}"
    ref = f"{theirs * 1e3:9.3f}" if theirs else f"{'-':>9s}"
    print(f"{name:<14s} {str(shape):<14s} {pass_:<8s} {ours * 1e3:9.3f} {ref} {ratio}", flush=True)
    return {"op": name, "shape": list(shape), "pass": pass_, "gpunet_ms": ours * 1e3,
            "torch_ms": None if theirs is None else theirs * 1e3,
            "ratio": None if not theirs else ours / theirs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (3 timed calls each)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--only", default="softmax,log_softmax,cross_entropy")
    parser.add_argument("--threads", type=int, help="threads for PyTorch, Numba and BLAS (default: theirs)")
    parser.add_argument("--no-step", action="store_true", help="skip the word-LM training step")
    parser.add_argument("--fast", action="store_true", help="tiny shapes and one round, for smoke tests")
    args = parser.parse_args(argv)
    if args.threads:
        _limit_threads(args.threads, use_torch=torch is not None)
    keep_heap()
    use_torch = torch is not None
    shapes = FAST_SHAPES if args.fast else SHAPES
    rounds = 1 if args.fast else args.rounds
    print(f"gpunet vs {'PyTorch ' + torch.__version__ if use_torch else 'PyTorch not installed'} (CPU, "
          f"{torch.get_num_threads() if use_torch else '-'} threads), {args.dtype}; {blas_note()}")
    print(f"{'op':<14s} {'shape':<14s} {'pass':<8s} {'gpunet ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    results = []
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = rng.standard_normal(shape).astype(args.dtype) * 3
        t = rng.integers(0, shape[1], shape[0])
        g = rng.standard_normal(shape).astype(args.dtype)
        ours = _cases(gpunet, x, t, g)
        theirs = _cases(torch, x, t, g) if use_torch else {}
        for name in args.only.split(","):
            for i, pass_ in enumerate(("fwd", "fwd+bwd")):
                fns = [ours[name][i]] + ([theirs[name][i]] if use_torch else [])
                times = interleaved_times(fns, ["cpu"] * len(fns), rounds)
                results.append(_print_row(name, shape, pass_, times[0], times[1] if use_torch else None))
    if not args.no_step:
        vocab, tokens = (941, 70) if args.fast else (9408, 700)
        fns = [_word_lm_step(gpunet, vocab, tokens, 200)]
        if use_torch:
            fns.append(_word_lm_step(torch, vocab, tokens, 200))
        times = interleaved_times(fns, ["cpu"] * len(fns), rounds, settle=BLAS_SETTLE_S)
        results.append(_print_row("word-LM step", (tokens, vocab), "train", times[0],
                                  times[1] if use_torch else None))
    print("ratio = gpunet ms / PyTorch ms, medians of interleaved rounds (below 1, gpunet is faster)")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
