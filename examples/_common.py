"""Shared helpers for the examples: command-line flags, progress bars, plotting, the digits data set.

Kept apart so that each example shows only the deep-learning code a user copies.
"""
import argparse
import os
import time

import numpy as np

import gpunet as torch
import gpunet.nn.functional as F


class _Parser(argparse.ArgumentParser):
    """parse_args also resolves --epochs: the example's default, or its fast default under --fast."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if self.default_epochs is not None and parsed.epochs is None:
            parsed.epochs = self.fast_epochs if parsed.fast else self.default_epochs
        return parsed


def make_parser(doc, epochs=None, fast_epochs=2):
    """The flags every example takes (--epochs unless epochs is None); add more with parser.add_argument."""
    parser = _Parser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.default_epochs, parser.fast_epochs = epochs, fast_epochs
    parser.add_argument("--device", default="cpu", help="cpu or cuda (GPUNET_CUDA_SIM=1 simulates cuda)")
    if epochs is not None:
        parser.add_argument("--epochs", type=int,
                            help=f"training epochs (default: {epochs}; {fast_epochs} with --fast)")
    parser.add_argument("--fast", action="store_true", help="tiny data and sizes, for smoke tests")
    parser.add_argument("--plot", metavar="PATH", help="save a figure as PNG to PATH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def progress(iterable, desc, args, total=None):
    """A tqdm progress bar (stderr); set the running loss on it with bar.set_postfix(loss=...)."""
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, disable=args.quiet, leave=False, dynamic_ncols=True)


class RunningMean:
    """Exponential moving average of a scalar (the running loss shown on the progress bar)."""

    def __init__(self, beta=0.9):
        self.beta, self.value = beta, None

    def update(self, x):
        self.value = x if self.value is None else self.beta * self.value + (1 - self.beta) * x
        return self.value


def load_digits(size=32, test_size=0.2, seed=0, normalize=True):
    """sklearn's 8x8 digits resized to size x size (bilinear), as float32 tensors (N, 1, size, size).

    Returns (x_train, y_train, x_test, y_test); the split is stratified with a fixed seed. Pixels are
    scaled to [0, 1], then standardized with the training set's mean and std when normalize is true.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    data = sk_load_digits()
    images = data.images.astype(np.float32)[:, None] / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(images, data.target, test_size=test_size,
                                              stratify=data.target, random_state=seed)
    out = []
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        x = torch.from_numpy(np.ascontiguousarray(x))
        if size != 8:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        out += [x, torch.from_numpy(y.astype(np.int64))]
    if normalize:
        mean, std = out[0].mean(), out[0].std()
        out[0], out[2] = (out[0] - mean) / std, (out[2] - mean) / std
    return tuple(out)


def pyplot():
    """matplotlib.pyplot on the Agg backend (writes files; needs no display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    print(f"saved plot to {path}")


def image_grid(images, path, nrow=8, title=None):
    """Save (N, H, W) images in [0, 1] (a NumPy array) as one grid PNG."""
    plt = pyplot()
    n = len(images)
    ncol = (n + nrow - 1) // nrow
    fig, axes = plt.subplots(ncol, nrow, figsize=(nrow, ncol), squeeze=False)
    for ax, i in zip(axes.flat, range(nrow * ncol)):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0.0, vmax=1.0)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


class Timer:
    """with Timer() as t: ...; t.seconds"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def print_metrics(name, metrics):
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()]
    print(f"{name}: " + ", ".join(parts))
