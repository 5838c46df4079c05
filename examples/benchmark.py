"""Training-step throughput of gpunet and PyTorch (CPU), side by side in one run.

    python examples/benchmark.py [--windows 7] [--steps-per-window 10] [--settle 0.3] [--device cuda]
                                 [--torch-device cuda]

Models (the same code runs on both libraries):
- MLP: 784-512-256-10 with ReLU, batch 128, cross-entropy, SGD with momentum 0.9;
- LeNet: LeNet-5 on 3x32x32 inputs (conv 3->6 5x5, pool, conv 6->16 5x5, pool, 120, 84, 10), batch 64;
- ResNet-style: two 3x3 conv blocks of 64 channels with BatchNorm and ReLU, the second one residual,
  then global average pooling and a linear layer; 3x32x32 inputs, batch 32;
- char GRU: the char_gru example's model (embedding 32, GRU 128, linear over 96 characters), batch 32
  of 100-character sequences, cross-entropy over every position.
One training step = forward, loss, zero_grad, backward, optimizer step, then reading the loss value
(.item(), which also waits for an asynchronous device). After warm-up steps, the two libraries take
turns: a timed window of a few steps of one, then of the other, round after round, so that both meet
the same moments of a shared machine (run one after the other, PyTorch's MLP alone moved from 343 to 491
steps/s between runs of the same code); each library's median window gives its steps/s. PyTorch runs on
the CPU with its default threads (or on --torch-device); it is skipped when not installed.
ratio = gpunet steps/s / PyTorch steps/s
(1.0 is parity; above 1, gpunet is faster).

--steady N trains the LeNet step N times more (gpunet only) and reports the resident memory after
100 steps and after N, and how many functions Numba compiled after the first step (none is the
target: compilation belongs to the first call, or to the on-disk cache).
"""
import json
import os
import statistics
import sys
import time

import gpunet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import make_parser, print_metrics

try:
    import torch
except ImportError:
    torch = None


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def resnet_style(lib):
    nn = lib.nn

    class ResidualCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.conv2, self.bn2 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

        def forward(self, x):
            x = lib.relu(self.bn1(self.conv1(x)))
            return self.head(lib.relu(x + self.bn2(self.conv2(x))))

    return ResidualCNN()


def char_gru(lib, vocab=96):
    nn = lib.nn

    class CharGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, 32)
            self.gru = nn.GRU(32, 128, batch_first=True)
            self.head = nn.Linear(128, vocab)

        def forward(self, tokens):
            output, _ = self.gru(self.embedding(tokens))
            return self.head(output).reshape(-1, vocab)  # every position predicts a character

    return CharGRU()


def images(shape):
    return lambda lib, device: (lib.randn(*shape, device=device),
                                lib.randint(0, 10, (shape[0],), device=device))


def characters(lib, device, batch=32, length=100, vocab=96):
    return (lib.randint(0, vocab, (batch, length), device=device),
            lib.randint(0, vocab, (batch * length,), device=device))


BENCHMARKS = {"mlp": ("MLP 784-512-256-10, batch 128", mlp, images((128, 784))),
              "lenet": ("LeNet-5 3x32x32, batch 64", lenet, images((64, 3, 32, 32))),
              "resnet": ("ResNet-style 64ch 32x32, batch 32", resnet_style, images((32, 3, 32, 32))),
              "char_gru": ("char GRU 128, seq 100, batch 32", char_gru, characters)}


def training_step(lib, build, make_batch, device):
    """One library's training step for a model (`build`) and a batch (`make_batch`), as a function."""
    lib.manual_seed(0)
    model = build(lib).to(device)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = lib.nn.CrossEntropyLoss()
    x, y = make_batch(lib, device)

    def step():
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def steps_per_second(steps, warmup, windows, steps_per_window, settle):
    """Steps/s of each step function: warm-up steps, then `windows` rounds in which each function runs one
    timed window of `steps_per_window` steps in turn, `settle` seconds after the last; each one's median
    window. The pause lets the other library's idle worker threads stop spinning (OpenBLAS's spin ~0.1 s
    after a call): without it, on two cores, PyTorch's MLP windows right after gpunet's ran 1.5-3x slower."""
    for step in steps:
        for _ in range(warmup):
            step()
    times = [[] for _ in steps]
    for _ in range(windows):
        for step, taken in zip(steps, times):
            time.sleep(settle)
            start = time.perf_counter()
            for _ in range(steps_per_window):
                step()
            taken.append((time.perf_counter() - start) / steps_per_window)
    return [1.0 / statistics.median(taken) for taken in times]


def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def steady_state(steps, device):
    """(resident MiB after 100 steps, after `steps`, Numba compilations after the first step) of LeNet."""
    from numba.core import event
    gpunet.manual_seed(0)
    model = lenet(gpunet).to(device)
    optimizer = gpunet.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = images((64, 3, 32, 32))(gpunet, device)
    rss = {}
    with event.install_recorder("numba:compile") as compiles:
        for i in range(1, steps + 1):
            loss = gpunet.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            if i == 1:
                compiled_by_first = len(compiles.buffer)
            if i in (100, steps):
                rss[i] = resident_mib()
    later = (len(compiles.buffer) - compiled_by_first) // 2  # each compilation is a start and an end event
    return rss[min(100, steps)], rss[steps], later


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--steps-per-window", type=int, default=10)
    parser.add_argument("--settle", type=float, default=0.3, help="seconds of pause before each window")
    parser.add_argument("--no-torch", action="store_true", help="measure gpunet only")
    parser.add_argument("--torch-device", default="cpu", help="where PyTorch runs: cpu, or cuda")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--steady", type=int, default=0, metavar="N",
                        help="also train LeNet N steps: memory after 100 and N steps, compilations after "
                             "step 1")
    args = parser.parse_args(argv)
    if args.fast:
        args.warmup, args.windows, args.steps_per_window, args.settle = 1, 2, 2, 0.0
    use_torch = torch is not None and not args.no_torch
    reference = f"PyTorch {torch.__version__} on {args.torch_device}" if use_torch else "PyTorch not measured"
    print(f"gpunet on {args.device}; {reference}")
    print(f"{'steps/s':34s} {'gpunet':>8s} {'pytorch':>8s} {'ratio':>6s}")
    metrics = {}
    for name, (title, build, make_batch) in BENCHMARKS.items():
        steps = [training_step(gpunet, build, make_batch, gpunet.device(args.device))]
        if use_torch:
            steps.append(training_step(torch, build, make_batch, torch.device(args.torch_device)))
        rates = steps_per_second(steps, args.warmup, args.windows, args.steps_per_window, args.settle)
        ours, theirs = rates[0], (rates[1] if use_torch else None)
        ratio = ours / theirs if theirs else None
        reference = f"{theirs:8.1f} {ratio:6.2f}" if theirs else f"{'-':>8s} {'-':>6s}"
        print(f"{title:34s} {ours:8.1f} {reference}")
        metrics.update({f"{name}_gpunet_steps_per_s": ours, f"{name}_torch_steps_per_s": theirs,
                        f"{name}_ratio": ratio})
    print("ratio = gpunet steps/s / PyTorch steps/s (1.0 is parity; above 1, gpunet is faster)")
    if args.steady:
        at_100, at_end, compiled = steady_state(args.steady, gpunet.device(args.device))
        print(f"LeNet, {args.steady} steps: resident {at_100:.1f} MiB after 100 steps, {at_end:.1f} MiB "
              f"after {args.steady}; Numba compilations after the first step: {compiled}")
        metrics.update({"steady_rss_mib_100": at_100, "steady_rss_mib_end": at_end,
                        "steady_compilations_after_first_step": compiled})
    print_metrics("benchmark", metrics)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "torch_device": args.torch_device if use_torch else None,
                       **metrics}, f, indent=1)
    return metrics


if __name__ == "__main__":
    main()
