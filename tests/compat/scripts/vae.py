"""The variational autoencoder of PyTorch's official examples, on synthetic 8x8 binary images
(reparameterisation with randn_like, BCE + KL loss). Unmodified PyTorch program."""
import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    rng = np.random.default_rng(args.seed)
    prototypes = rng.random((4, 64)) < 0.5  # four binary patterns, each pixel flipped with p=0.05
    images = prototypes[rng.integers(0, 4, 512)] ^ (rng.random((512, 64)) < 0.05)
    dataset = TensorDataset(torch.from_numpy(images.astype(np.float32)))
    loader = DataLoader(dataset, batch_size=64, shuffle=True)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0.0
        for (data,) in loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        losses.append(train_loss / len(loader.dataset))
        print(f"====> Epoch: {epoch} Average loss: {losses[-1]:.4f}")
    with torch.no_grad():
        sample = model.decode(torch.randn(8, 4))
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"losses": losses, "sample_shape": list(sample.shape)}, f)


if __name__ == "__main__":
    main()
