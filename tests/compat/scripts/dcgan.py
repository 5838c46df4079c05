"""DCGAN in the shape of PyTorch's official example (ConvTranspose2d generator, strided-conv discriminator,
BatchNorm, weights_init through Module.apply, BCELoss, two Adam optimizers, fixed noise), on synthetic
16x16 images of blobs. Unmodified PyTorch program."""
import argparse
import json

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

nz, ngf, ndf = 8, 8, 8


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def blobs(n, rng):
    yy, xx = np.mgrid[0:16, 0:16]
    centres = rng.uniform(4, 12, size=(n, 2))
    images = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 8.0)
    return torch.from_numpy((images * 2 - 1)[:, None].astype(np.float32))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--niter", type=int, default=2)
    parser.add_argument("--manualSeed", type=int, default=999)
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(args.manualSeed)
    device = torch.device("cpu")
    dataloader = DataLoader(TensorDataset(blobs(256, np.random.default_rng(0))), batch_size=32, shuffle=True)

    netG, netD = Generator().to(device), Discriminator().to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(16, nz, 1, 1, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))

    lossesD, lossesG = [], []
    for epoch in range(args.niter):
        for i, (data,) in enumerate(dataloader):
            netD.zero_grad()
            real = data.to(device)
            label = torch.full((real.size(0),), real_label, dtype=real.dtype, device=device)
            errD_real = criterion(netD(real), label)
            errD_real.backward()
            noise = torch.randn(real.size(0), nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            errD_fake = criterion(netD(fake.detach()), label)
            errD_fake.backward()
            optimizerD.step()

            netG.zero_grad()
            label.fill_(real_label)
            errG = criterion(netD(fake), label)
            errG.backward()
            optimizerG.step()
            lossesD.append((errD_real + errD_fake).item())
            lossesG.append(errG.item())
        print(f"[{epoch}/{args.niter}] Loss_D: {lossesD[-1]:.4f} Loss_G: {lossesG[-1]:.4f}")
    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"lossesD": lossesD, "lossesG": lossesG, "fake_shape": list(fake.shape),
                       "fake_range": [fake.min().item(), fake.max().item()]}, f)


if __name__ == "__main__":
    main()
