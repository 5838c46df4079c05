"""Elementwise ops and activations on large tensors: gpunet and PyTorch (CPU) side by side in one run.

    python examples/benchmark_elementwise.py [--rounds 7] [--fast]

For each size (65,536 elements, and LeNet's first activation, 64x6x28x28 = 301,056) it times, through
the public API, float32:
- fwd: the op under no_grad (binary ops take two tensors of the same shape);
- fwd+bwd: the op on a tensor requiring grad, then a backward of a fixed random gradient (of 1 for sum
  and mse_loss, whose outputs are scalars).
gpunet and PyTorch run in turn within every round (kernels.bench.common.interleaved_times); each figure
is the median over the rounds. ratio = gpunet ms / PyTorch ms (below 1, gpunet is faster). PyTorch
runs its elementwise kernels on all its threads; gpunet's tanh is NumPy's (one thread), add and mul
NumPy's below 2**17 elements and a threaded loop above (kernels/cpu/arithmetic.py); ReLU, sigmoid,
SiLU, GELU (both forms), leaky_relu, ELU, hardswish and clamp are one Numba pass each
(kernels/cpu/activation.py, special.py), softplus, logsigmoid and Mish too
(kernels/cpu/softplus_family.py), on all Numba's threads from a size that depends on their cost
(kernels/cpu/_serial.py); where is a one-pass select (kernels/cpu/select.py); scale (a * 0.5) is the
threaded array-and-number loop of kernels/cpu/arithmetic.py, and abs, sqrt, maximum and a ** 2 (a * a)
threaded loops there too; exp and log are kernels/cpu/exp_log.py's loops; sum kernels/cpu/reduce.py's,
mse_loss one pass each way (kernels/cpu/regression.py).
"""
import argparse

import numpy as np

import gpunet
from kernels.bench.common import interleaved_times, keep_heap

try:
    import torch
except ImportError:
    torch = None

SHAPES = [(256, 256), (64, 6, 28, 28)]
FAST_SHAPES = [(8, 16)]
OPS = {
    "add": lambda lib, a, b: a + b,
    "mul": lambda lib, a, b: a * b,
    "relu": lambda lib, a, b: lib.relu(a),
    "sigmoid": lambda lib, a, b: lib.sigmoid(a),
    "tanh": lambda lib, a, b: lib.tanh(a),
    "gelu": lambda lib, a, b: lib.nn.functional.gelu(a),
    "gelu_tanh": lambda lib, a, b: lib.nn.functional.gelu(a, approximate="tanh"),
    "silu": lambda lib, a, b: lib.nn.functional.silu(a),
    "leaky_relu": lambda lib, a, b: lib.nn.functional.leaky_relu(a, 0.2),
    "elu": lambda lib, a, b: lib.nn.functional.elu(a),
    "softplus": lambda lib, a, b: lib.nn.functional.softplus(a),
    "logsigmoid": lambda lib, a, b: lib.nn.functional.logsigmoid(a),
    "mish": lambda lib, a, b: lib.nn.functional.mish(a),
    "clamp": lambda lib, a, b: lib.clamp(a, -0.5, 0.5),
    "hardswish": lambda lib, a, b: lib.nn.functional.hardswish(a),
    "where": lambda lib, a, b: lib.where(a > b, a, b),
    "scale": lambda lib, a, b: a * 0.5,
    "exp": lambda lib, a, b: lib.exp(a),
    "log": lambda lib, a, b: lib.log(b),  # (b is positive)
    "sqrt": lambda lib, a, b: lib.sqrt(b),
    "abs": lambda lib, a, b: lib.abs(a),
    "pow2": lambda lib, a, b: a ** 2,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "sum": lambda lib, a, b: a.sum(),
    "mse_loss": lambda lib, a, b: lib.nn.functional.mse_loss(a, b),
}


def _cases(lib, op, a_np, b_np, g_np):
    a, b = lib.tensor(a_np), lib.tensor(b_np)
    ag, bg = lib.tensor(a_np, requires_grad=True), lib.tensor(b_np, requires_grad=True)
    g = lib.tensor(g_np)

    def fwd():
        with lib.no_grad():
            return op(lib, a, b)

    def fwd_bwd():
        ag.grad = bg.grad = None
        out = op(lib, ag, bg)
        out.backward(g if out.dim() else None)  # (a loss or a sum: its own gradient, 1)
    return fwd, fwd_bwd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (3 timed calls each)")
    parser.add_argument("--fast", action="store_true", help="a tiny shape and one round, for smoke tests")
    args = parser.parse_args(argv)
    keep_heap()
    rounds = 1 if args.fast else args.rounds
    print(f"gpunet vs {'PyTorch ' + torch.__version__ if torch else 'PyTorch not installed'} (CPU, "
          f"{torch.get_num_threads() if torch else '-'} threads), float32")
    print(f"{'op':<10s} {'shape':<16s} {'pass':<8s} {'gpunet ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    rows = []
    rng = np.random.default_rng(0)
    for shape in FAST_SHAPES if args.fast else SHAPES:
        a, b, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
        b = np.abs(b) + np.float32(0.1)  # for log and sqrt
        for name, op in OPS.items():
            ours = _cases(gpunet, op, a, b, g)
            theirs = _cases(torch, op, a, b, g) if torch else None
            for i, pass_ in enumerate(("fwd", "fwd+bwd")):
                fns = [ours[i]] + ([theirs[i]] if torch else [])
                times = interleaved_times(fns, ["cpu"] * len(fns), rounds)
                mine, ref = times[0] * 1e3, (times[1] * 1e3 if torch else None)
                ratio = mine / ref if ref else None
                ref_text, ratio_text = ("-", "-") if ref is None else (f"{ref:.3f}", f"{ratio:.2f}")
                print(f"{name:<10s} {str(shape):<16s} {pass_:<8s} {mine:9.3f} {ref_text:>9s} "
                      f"{ratio_text:>6s}", flush=True)
                rows.append({"op": name, "shape": list(shape), "pass": pass_, "gpunet_ms": mine,
                             "torch_ms": ref, "ratio": ratio})
    print("ratio = gpunet ms / PyTorch ms (below 1, gpunet is faster)")
    return rows


if __name__ == "__main__":
    main()
