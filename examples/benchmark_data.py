"""Data loading and a whole training program, gpunet and PyTorch (CPU) side by side in one run.

    python examples/benchmark_data.py [--rounds 5] [--fast]

Rows (ms per batch, or seconds for the program; medians over the rounds, the two libraries in turn within
every round):
- DataLoader over a TensorDataset (MNIST-sized 60,000 x 784 in batches of 256, shuffled; the digits'
  1,797 x 64 in batches of 64), over a map-style Dataset whose samples are (tensor, int), and over a
  TensorDataset with two persistent worker processes;
- a whole program as users write one: an MLP (784-256-128-10, dropout) trained with Adam for 3 epochs over
  16,000 samples from a shuffled DataLoader, `loss.item()` every step, and evaluated under no_grad on 4,000
  after each epoch (the per-epoch loop of most CPU training scripts).
ratio = gpunet / PyTorch (below 1, gpunet is faster). PyTorch's column is empty when it is not installed.
"""
import os
import statistics
import sys
import time

import numpy as np

import gpunet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import make_parser

try:
    import torch
except ImportError:
    torch = None


def _loader_pass(lib, dataset, **kwargs):
    """A function timing one pass over a DataLoader: ms per batch."""
    loader = lib.utils.data.DataLoader(dataset, shuffle=True, **kwargs)

    def run():
        start = time.perf_counter()
        for _ in loader:
            pass
        return (time.perf_counter() - start) * 1e3 / len(loader)
    return run


def _tensor_rows(lib, rows, cols, batch, **kwargs):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((rows, cols)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, rows))
    return _loader_pass(lib, lib.utils.data.TensorDataset(x, y), batch_size=batch, **kwargs)


def _samples(lib, rows, cols, batch):
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((rows, cols)).astype(np.float32), rng.integers(0, 10, rows)

    class Samples(lib.utils.data.Dataset):
        def __len__(self):
            return rows

        def __getitem__(self, i):
            return lib.from_numpy(features[i]), int(labels[i])

    return _loader_pass(lib, Samples(), batch_size=batch)


def _program(lib, train_rows, val_rows, epochs):
    """A function running the whole program once: seconds."""
    nn = lib.nn
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((train_rows + val_rows, 784)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, train_rows + val_rows))
    data = lib.utils.data
    train = data.DataLoader(data.TensorDataset(x[:train_rows], y[:train_rows]), batch_size=128, shuffle=True)
    val = data.DataLoader(data.TensorDataset(x[train_rows:], y[train_rows:]), batch_size=512)

    def run():
        lib.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        for _ in range(epochs):
            model.train()
            total = 0.0
            for xb, yb in train:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item()
            model.eval()
            correct = 0
            with lib.no_grad():
                for xb, yb in val:
                    correct += (model(xb).argmax(1) == yb).sum().item()
        return time.perf_counter() - start
    return run


def cases(fast):
    """{row: (builder(lib) -> timed function, unit)}."""
    def size(full, small):
        return small if fast else full

    rows = {
        "TensorDataset 60000x784, batch 256": (
            lambda lib: _tensor_rows(lib, size(60000, 2000), 784, 256), "ms"),
        "TensorDataset 1797x64, batch 64": (lambda lib: _tensor_rows(lib, 1797, 64, 64), "ms"),
        "Dataset of (tensor, int), batch 256": (lambda lib: _samples(lib, size(6000, 1000), 784, 256), "ms"),
        "MLP program, 3 epochs + eval": (
            lambda lib: _program(lib, size(16000, 1000), size(4000, 500), size(3, 1)), "s"),
    }
    if not fast:  # worker processes: slow to start, and noisy
        rows["TensorDataset 20000x784, 2 workers"] = (
            lambda lib: _tensor_rows(lib, 20000, 784, 256, num_workers=2, persistent_workers=True), "ms")
    return rows


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rounds = 1 if args.fast else args.rounds
    libs = [gpunet] + ([torch] if torch is not None else [])
    results = []
    print(f"{'':<42} {'gpunet':>8} {'pytorch':>8} {'ratio':>6}")
    for name, (build, unit) in cases(args.fast).items():
        runs = [build(lib) for lib in libs]
        for run in runs:
            run()  # warm-up: the first pass compiles and starts workers
        times = [[] for _ in runs]
        for _ in range(rounds):
            for run, out in zip(runs, times):
                out.append(run())
        medians = [statistics.median(t) for t in times]
        ours, ref = medians[0], (medians[1] if len(medians) > 1 else None)
        results.append({"case": name, "unit": unit, "gpunet": ours, "torch": ref,
                        "ratio": ours / ref if ref else None})
        shown = f"{ref:8.3f} {ours / ref:6.2f}" if ref else f"{'-':>8} {'-':>6}"
        print(f"{name + ' (' + unit + ')':<42} {ours:8.3f} {shown}", flush=True)
    print("ratio = gpunet / PyTorch (below 1, gpunet is faster)")
    return results


if __name__ == "__main__":
    main()
