"""A small CNN with batch norm, trained on synthetic 16x16 images of bars (PyTorch program, unmodified)."""
import argparse
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)  # batch norm follows: a bias would only drift
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


def make_data(n, rng):
    """Four classes: a horizontal, vertical, diagonal or anti-diagonal bar, with noise."""
    labels = rng.integers(0, 4, size=n)
    images = rng.normal(0, 0.3, size=(n, 1, 16, 16)).astype(np.float32)
    idx = np.arange(16)
    for i, c in enumerate(labels):
        k = rng.integers(2, 14)
        if c == 0:
            images[i, 0, k, :] += 1
        elif c == 1:
            images[i, 0, :, k] += 1
        elif c == 2:
            images[i, 0, idx, idx] += 1
        else:
            images[i, 0, idx, 15 - idx] += 1
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-accel", action="store_true")
    parser.add_argument("--init", help="initial weights (.npz of state_dict arrays)")
    parser.add_argument("--save-init", help="write the initial weights to this .npz")
    parser.add_argument("--log", help="write the losses as JSON here")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    use_accel = not args.no_accel and torch.accelerator.is_available()
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")

    rng = np.random.default_rng(args.seed)
    train = DataLoader(TensorDataset(*make_data(256, rng)), batch_size=32, shuffle=False)
    test_x, test_y = make_data(128, rng)

    model = Net()
    if args.init:
        arrays = np.load(args.init)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    if args.save_init:
        np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    model = model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)

    losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        for data, target in train:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        model.eval()
        with torch.no_grad():
            output = model(test_x.to(device))
            test_loss = F.nll_loss(output, test_y.to(device), reduction="sum").item() / len(test_y)
            correct = output.argmax(dim=1).eq(test_y.to(device)).sum().item()
        print(f"epoch {epoch}: train loss {losses[-1]:.4f}, test loss {test_loss:.4f}, "
              f"accuracy {correct}/{len(test_y)}")
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"losses": losses, "test_loss": test_loss, "correct": correct}, f)


if __name__ == "__main__":
    main()
