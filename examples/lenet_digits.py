"""LeNet-5 on scikit-learn's handwritten digits (8x8, resized to 32x32), with a checkpoint round trip.

    python examples/lenet_digits.py [--epochs 12] [--device cuda] [--plot lenet.png] [--checkpoint PATH]

Trains LeNet-5 (conv 1->6 5x5, tanh, max-pool, conv 6->16 5x5, tanh, max-pool, fc 120, fc 84, fc 10)
with Adam and a cosine learning-rate schedule on 80% of the 1,797 digits, each batch shifted by up to
2 pixels (a cheap augmentation), and reports accuracy on the held-out 20% (stratified, fixed seed).
Then saves a checkpoint {'model', 'optimizer', 'scheduler', 'epoch', ...} with gpunet.save, loads it
into a fresh model and evaluates again: both accuracies must be equal. Reaches about 98% test accuracy
in under a minute on a laptop CPU.
"""
import os
import sys

import gpunet as torch
import gpunet.nn as nn
import gpunet.nn.functional as F
from gpunet.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RunningMean, Timer, load_digits, make_parser, print_metrics, progress, pyplot, save_figure

DEFAULT_CHECKPOINT = os.path.join("runs", "lenet_digits.pt")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class LeNet5(nn.Module):
    """LeNet-5 for 1x32x32 inputs: `features` (convolutions) and `classifier` (fully connected)."""

    def __init__(self, num_classes=10, activation=nn.Tanh):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), activation(), nn.MaxPool2d(2),   # 6 x 28 x 28 -> 6 x 14 x 14
            nn.Conv2d(6, 16, kernel_size=5), activation(), nn.MaxPool2d(2),  # 16 x 10 x 10 -> 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), activation(),
            nn.Linear(120, 84), activation(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def evaluate(model, loader, device):
    """Accuracy (fraction correct) of model over loader, in eval mode without autograd."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += y.numel()
    return correct / total


def train_epoch(model, loader, optimizer, device, bar_desc, args):
    """One pass over loader; returns the mean training loss."""
    model.train()
    running, total, n = RunningMean(), 0.0, 0
    bar = progress(loader, bar_desc, args)
    for x, y in bar:
        x, y = x.to(device), y.to(device)
        if args.shift:  # augmentation: move the whole batch by a random (dy, dx) (the border is background)
            dy, dx = torch.randint(-args.shift, args.shift + 1, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        value = loss.item()
        total, n = total + value * len(y), n + len(y)
        bar.set_postfix(loss=f"{running.update(value):.4f}")
    return total / n


def main(argv=None):
    parser = make_parser(__doc__, epochs=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--shift", type=int, default=2, help="random shift in pixels, augmentation (0: none)")
    parser.add_argument("--activation", choices=["relu", "tanh"], default="tanh")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="saved here (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    x_train, y_train, x_test, y_test = load_digits(size=32, seed=args.seed)
    if args.fast:  # a few batches of tiny data: checks the plumbing, not the accuracy
        x_train, y_train, x_test, y_test = x_train[:96], y_train[:96], x_test[:64], y_test[:64]
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=256)

    activation = ACTIVATIONS[args.activation]
    model = LeNet5(activation=activation).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    history = {"train_loss": [], "test_accuracy": []}
    with Timer() as timer:
        for epoch in range(1, args.epochs + 1):
            loss = train_epoch(model, train_loader, optimizer, device, f"epoch {epoch}/{args.epochs}", args)
            scheduler.step()
            accuracy = evaluate(model, test_loader, device)
            history["train_loss"].append(loss)
            history["test_accuracy"].append(accuracy)
            print(f"epoch {epoch:2d}  train loss {loss:.4f}  test accuracy {accuracy:.2%}")

    # Checkpoint: everything needed to resume, in one file; then restore into a fresh model.
    os.makedirs(os.path.dirname(os.path.abspath(args.checkpoint)), exist_ok=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": args.epochs, "activation": args.activation},
               args.checkpoint)
    checkpoint = torch.load(args.checkpoint, map_location=device)
    restored = LeNet5(activation=ACTIVATIONS[checkpoint["activation"]]).to(device)
    restored.load_state_dict(checkpoint["model"])
    # To continue training from checkpoint["epoch"], restore the optimizer and scheduler as well:
    resumed_optimizer = torch.optim.Adam(restored.parameters(), lr=args.lr)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(resumed_optimizer, T_max=args.epochs)
    resumed_scheduler.load_state_dict(checkpoint["scheduler"])
    restored_accuracy = evaluate(restored, test_loader, device)
    print(f"saved checkpoint to {args.checkpoint} (epoch {checkpoint['epoch']})")
    print(f"test accuracy: trained model {accuracy:.2%}, reloaded model {restored_accuracy:.2%}")

    if args.plot:
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
        epochs = range(1, args.epochs + 1)
        ax1.plot(epochs, history["train_loss"], marker="o")
        ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="LeNet-5 on digits")
        ax2.plot(epochs, [100 * a for a in history["test_accuracy"]], marker="o", color="C1")
        ax2.set(xlabel="epoch", ylabel="test accuracy (%)")
        save_figure(fig, args.plot)

    metrics = {"train_loss": history["train_loss"][-1], "first_train_loss": history["train_loss"][0],
               "test_accuracy": accuracy, "reloaded_test_accuracy": restored_accuracy,
               "epochs": args.epochs, "seconds": timer.seconds, "checkpoint": args.checkpoint}
    print_metrics("lenet_digits", metrics)
    return metrics


if __name__ == "__main__":
    main()
