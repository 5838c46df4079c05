"""Ops that today's models use, outside examples/benchmark.py's four steps: gpunet and PyTorch (CPU) side by
side in one run.

    python examples/benchmark_ops.py [--rounds 7] [--only NAME ...] [--fast]

Each row builds the same layer or tensors in both libraries (float32, the same numbers) and times one
forward + backward through the public API (forward only where the name says so), the two libraries in
turn within every round (kernels.bench.common.interleaved_times); each figure is the median over the
rounds. ratio = gpunet ms / PyTorch ms (below 1, gpunet is faster). The shapes are those of the models
named: transformer blocks (LayerNorm, einsum attention, embeddings, top-k sampling), U-Nets and diffusion
models (GroupNorm, reflect padding, transposed convolutions), MobileNet / ConvNeXt (depthwise
convolutions), segmentation (softmax and cross entropy over the classes of (N, C, H, W) logits),
sequence models (gather of log-probabilities, cumsum, LSTM), tabular MLPs (BatchNorm1d), small-batch
inference and reinforcement learning (Linear layers on a few rows).
"""
import argparse

import numpy as np

import gpunet
from kernels.bench.common import interleaved_times, keep_heap

try:
    import torch
except ImportError:
    torch = None

CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def _tensor(lib, rng, shape, grad=True):
    t = lib.from_numpy(rng.standard_normal(shape).astype(np.float32))
    return t.requires_grad_() if grad else t


def _ints(lib, rng, high, shape):
    return lib.from_numpy(rng.integers(0, high, shape))


def _size(fast, full, tiny):
    return tiny if fast else full


@case("topk(10) fwd")
def _topk(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (256, 32000), (4, 100)), grad=False)
    return lambda: x.topk(10, dim=-1)


@case("reflect pad 1")
def _pad(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (16, 64, 32, 32), (2, 3, 5, 5)))
    return lambda: lib.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect").sum().backward()


@case("einsum attention")
def _einsum(lib, rng, fast):
    shape = _size(fast, (16, 4, 128, 64), (2, 2, 8, 4))
    q, k = _tensor(lib, rng, shape), _tensor(lib, rng, shape)
    return lambda: lib.einsum("bhqd,bhkd->bhqk", q, k).sum().backward()


@case("GroupNorm(8, 64)")
def _group_norm(lib, rng, fast):
    m = lib.nn.GroupNorm(8, 64)
    x = _tensor(lib, rng, _size(fast, (16, 64, 32, 32), (2, 64, 3, 3)))
    return lambda: m(x).sum().backward()


@case("LayerNorm(128)")
def _layer_norm(lib, rng, fast):
    m = lib.nn.LayerNorm(128)
    x = _tensor(lib, rng, _size(fast, (32, 64, 128), (2, 3, 128)))
    return lambda: m(x).sum().backward()


@case("BatchNorm1d(512)")
def _batch_norm_1d(lib, rng, fast):
    m = lib.nn.BatchNorm1d(512)
    x = _tensor(lib, rng, _size(fast, (256, 512), (4, 512)))
    return lambda: m(x).sum().backward()


@case("cumsum(-1)")
def _cumsum(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (64, 4096), (2, 50)))
    return lambda: x.cumsum(-1).sum().backward()


@case("depthwise conv 3x3")
def _depthwise(lib, rng, fast):
    c = _size(fast, 64, 3)
    x, w = _tensor(lib, rng, _size(fast, (32, c, 32, 32), (2, c, 6, 6))), _tensor(lib, rng, (c, 1, 3, 3))
    return lambda: lib.nn.functional.conv2d(x, w, padding=1, groups=c).sum().backward()


@case("conv_transpose2d 4x4/2")
def _conv_transpose(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (16, 64, 16, 16), (2, 4, 3, 3)))
    w = _tensor(lib, rng, _size(fast, (64, 32, 4, 4), (4, 2, 4, 4)))
    return lambda: lib.nn.functional.conv_transpose2d(x, w, stride=2, padding=1).sum().backward()


@case("softmax dim=1")
def _softmax_dim1(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (32, 21, 64, 64), (2, 3, 4, 4)))
    return lambda: x.softmax(1).sum().backward()


@case("cross_entropy (N, C, H, W)")
def _cross_entropy_segmentation(lib, rng, fast):
    shape = _size(fast, (16, 21, 64, 64), (2, 3, 4, 4))
    x, t = _tensor(lib, rng, shape), _ints(lib, rng, shape[1], shape[:1] + shape[2:])
    return lambda: lib.nn.functional.cross_entropy(x, t).backward()


@case("cross_entropy (N, C, T)")
def _cross_entropy_sequence(lib, rng, fast):
    shape = _size(fast, (32, 1000, 128), (2, 10, 3))
    x, t = _tensor(lib, rng, shape), _ints(lib, rng, shape[1], (shape[0], shape[2]))
    return lambda: lib.nn.functional.cross_entropy(x, t).backward()


@case("Embedding(32000, 256)")
def _embedding(lib, rng, fast):
    e = lib.nn.Embedding(_size(fast, 32000, 50), 256)
    idx = _ints(lib, rng, _size(fast, 32000, 50), _size(fast, (32, 128), (2, 3)))
    return lambda: e(idx).sum().backward()


@case("gather log-probs dim 2")
def _gather(lib, rng, fast):
    shape = _size(fast, (32, 128, 1000), (2, 3, 10))
    x, idx = _tensor(lib, rng, shape), _ints(lib, rng, shape[2], shape[:2] + (1,))
    return lambda: x.gather(2, idx).sum().backward()


@case("scatter_add dim 1")
def _scatter_add(lib, rng, fast):
    x = _tensor(lib, rng, _size(fast, (64, 1000), (2, 10)))
    src = _tensor(lib, rng, _size(fast, (64, 200), (2, 4)))
    idx = _ints(lib, rng, x.shape[1], tuple(src.shape))
    return lambda: x.scatter_add(1, idx, src).sum().backward()


@case("LSTM(128, 256)")
def _lstm(lib, rng, fast):
    m = lib.nn.LSTM(128, 256, batch_first=True)
    x = _tensor(lib, rng, _size(fast, (32, 50, 128), (2, 3, 128)))
    return lambda: m(x)[0].sum().backward()


@case("bi-LSTM(64, 128), 2 layers")
def _lstm_small(lib, rng, fast):
    m = lib.nn.LSTM(64, 128, num_layers=2, bidirectional=True, batch_first=True)
    x = _tensor(lib, rng, _size(fast, (16, 100, 64), (2, 3, 64)))
    return lambda: m(x)[0].sum().backward()


def _linear_on_rows(features, rows):
    def build(lib, rng, fast):
        n = _size(fast, features, 64)
        m = lib.nn.Linear(n, n)
        x = _tensor(lib, rng, (_size(fast, rows, min(rows, 2)), n))
        return lambda: m(x).sum().backward()
    return build


case("Linear(1024, 1024), batch 8")(_linear_on_rows(1024, 8))
case("Linear(4096, 4096), one row")(_linear_on_rows(4096, 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (3 timed calls each)")
    parser.add_argument("--only", nargs="*", default=None, help="rows whose name contains one of these")
    parser.add_argument("--fast", action="store_true", help="tiny shapes and one round, for smoke tests")
    args = parser.parse_args(argv)
    keep_heap()
    rounds = 1 if args.fast else args.rounds
    print(f"gpunet vs {'PyTorch ' + torch.__version__ if torch else 'PyTorch not installed'} (CPU, "
          f"{torch.get_num_threads() if torch else '-'} threads), float32, forward + backward")
    print(f"{'op':<28s} {'gpunet ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    rows = []
    for name, build in CASES.items():
        if args.only and not any(s in name for s in args.only):
            continue
        fns = [build(gpunet, np.random.default_rng(0), args.fast)]
        if torch:
            fns.append(build(torch, np.random.default_rng(0), args.fast))
        times = interleaved_times(fns, ["cpu"] * len(fns), rounds)
        mine, ref = times[0] * 1e3, (times[1] * 1e3 if torch else None)
        ratio = mine / ref if ref else None
        ref_text, ratio_text = ("-", "-") if ref is None else (f"{ref:.3f}", f"{ratio:.2f}")
        print(f"{name:<28s} {mine:9.3f} {ref_text:>9s} {ratio_text:>6s}", flush=True)
        rows.append({"op": name, "gpunet_ms": mine, "torch_ms": ref, "ratio": ratio})
    print("ratio = gpunet ms / PyTorch ms (below 1, gpunet is faster)")
    return rows


if __name__ == "__main__":
    main()
