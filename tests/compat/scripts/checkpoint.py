"""Checkpoints as PyTorch programs write them: a dict of model/optimizer/scheduler state_dicts and the
epoch, written every epoch and resumed from (`--resume`), plus the whole model saved with torch.save and
loaded with torch.load(weights_only=False). Unmodified PyTorch program."""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.BatchNorm1d(16),
                                 nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--dir", default=".")
    parser.add_argument("--resume", action="store_true", help="continue from <dir>/checkpoint.pt")
    parser.add_argument("--stop-after", type=int, help="stop after this epoch (as a preempted job would)")
    parser.add_argument("--init")
    parser.add_argument("--save-init")
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(128, 4)).astype(np.float32))
    y = (x[:, :1] * 2 - x[:, 1:2] ** 2 + 0.1 * torch.from_numpy(rng.normal(size=(128, 1)).astype(np.float32)))

    model = MLP()
    if args.init:
        arrays = np.load(args.init)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    if args.save_init:
        np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    path = os.path.join(args.dir, "checkpoint.pt")
    start, losses = 0, []
    if args.resume:
        checkpoint = torch.load(path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        start, losses = checkpoint["epoch"] + 1, checkpoint["losses"]

    for epoch in range(start, args.epochs):
        model.train()
        for i in range(0, 128, 32):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "losses": losses}, path)
        if epoch == args.stop_after:
            break
    torch.save(model, os.path.join(args.dir, "model.pt"))
    whole = torch.load(os.path.join(args.dir, "model.pt"), weights_only=False)
    whole.eval()
    model.eval()
    with torch.no_grad():
        same = torch.equal(whole(x), model(x))
        eval_loss = nn.functional.mse_loss(model(x), y).item()
    print(f"epochs run to {epoch}, eval loss {eval_loss:.4f}, reloaded model agrees: {same}")
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"losses": losses, "eval_loss": eval_loss, "reloaded_agrees": same,
                       "lr": optimizer.param_groups[0]["lr"]}, f)


if __name__ == "__main__":
    main()
