"""A GAN that learns to draw 8x8 handwritten digits (scikit-learn's digits), with a grid of samples as PNG.

    python examples/gan_digits.py [--epochs 200] [--device cuda] [--plot gan.png]

Generator: latent noise (16) -> 128 -> 128 -> 64 pixels in [-1, 1] (tanh). Discriminator: 64 -> 128 ->
128 -> 1 logit (--hidden sets the widths). Each network has its own Adam (lr 1e-3, betas (0.5, 0.999));
the loss is nn.BCEWithLogitsLoss. While the generator trains, the discriminator is frozen with
requires_grad_(False), so the generator's backward pass computes no gradients for its weights.

To judge the samples without looking at them, a logistic-regression digit classifier (scikit-learn,
fitted on the real digits) labels 1,000 generated images: a good generator gives confident
predictions spread over all ten classes.
"""
import os
import sys

import numpy as np

import gpunet as torch
import gpunet.nn as nn
from gpunet.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RunningMean, Timer, image_grid, make_parser, print_metrics, progress

LATENT = 16


def make_generator(hidden=128):
    return nn.Sequential(
        nn.Linear(LATENT, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 64), nn.Tanh(),
    )


def make_discriminator(hidden=128):
    return nn.Sequential(
        nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),  # a logit: BCEWithLogitsLoss applies the sigmoid stably
    )


def judge(images, real_images, real_labels):
    """(mean confidence, number of distinct classes) of a digit classifier on generated images in [0, 1]."""
    from sklearn.linear_model import LogisticRegression
    classifier = LogisticRegression(max_iter=2000).fit(real_images, real_labels)
    probabilities = classifier.predict_proba(images)
    return float(probabilities.max(axis=1).mean()), len(np.unique(probabilities.argmax(axis=1)))


def main(argv=None):
    parser = make_parser(__doc__, epochs=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128, help="width of both networks' hidden layers")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    from sklearn.datasets import load_digits
    digits = load_digits()
    pixels = digits.data.astype(np.float32) / 16.0  # (1797, 64) in [0, 1]
    if args.fast:
        pixels = pixels[:128]
    loader = DataLoader(TensorDataset(torch.from_numpy(pixels * 2 - 1)), batch_size=args.batch_size,
                        shuffle=True, drop_last=True)

    generator = make_generator(args.hidden).to(device)
    discriminator = make_discriminator(args.hidden).to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    fixed_noise = torch.randn(64, LATENT, device=device)  # the same noise each time we look at samples

    history = {"d_loss": [], "g_loss": []}
    with Timer() as timer:
        for epoch in range(1, args.epochs + 1):
            generator.train()
            discriminator.train()
            d_running, g_running = RunningMean(), RunningMean()
            d_total = g_total = 0.0
            bar = progress(loader, f"epoch {epoch}/{args.epochs}", args)
            for (real,) in bar:
                real = real.to(device)
                ones = torch.ones(len(real), 1, device=device)
                zeros = torch.zeros(len(real), 1, device=device)
                fake = generator(torch.randn(len(real), LATENT, device=device))

                # Discriminator: real -> 1, fake -> 0. detach(): no gradient flows into the generator here.
                d_loss = criterion(discriminator(real), ones) + criterion(discriminator(fake.detach()), zeros)
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()

                # Generator: make the (frozen) discriminator say 1 for fakes.
                discriminator.requires_grad_(False)
                g_loss = criterion(discriminator(fake), ones)
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                discriminator.requires_grad_(True)

                d_value, g_value = d_loss.item(), g_loss.item()
                d_total, g_total = d_total + d_value, g_total + g_value
                bar.set_postfix(d_loss=f"{d_running.update(d_value):.3f}",
                                g_loss=f"{g_running.update(g_value):.3f}")
            history["d_loss"].append(d_total / len(loader))
            history["g_loss"].append(g_total / len(loader))
            if epoch % 50 == 0 or epoch == args.epochs:
                print(f"epoch {epoch:3d}  discriminator loss {history['d_loss'][-1]:.3f}  "
                      f"generator loss {history['g_loss'][-1]:.3f}")

    # With the discriminator frozen, a backward pass through it leaves its .grad untouched (None here).
    discriminator.zero_grad()
    discriminator.requires_grad_(False)
    criterion(discriminator(generator(fixed_noise)), torch.ones(64, 1, device=device)).backward()
    frozen_ok = all(p.grad is None for p in discriminator.parameters())
    frozen_ok = frozen_ok and all(p.grad is not None for p in generator.parameters())
    discriminator.requires_grad_(True)

    generator.eval()
    discriminator.eval()
    with torch.no_grad():
        samples = (generator(torch.randn(1000, LATENT, device=device)).cpu().numpy() + 1) / 2
        real, fake = (torch.from_numpy(a[:500] * 2 - 1).to(device) for a in (pixels, samples))
        d_real = torch.sigmoid(discriminator(real)).mean().item()  # mean probability "real" it assigns
        d_fake = torch.sigmoid(discriminator(fake)).mean().item()
        grid = (generator(fixed_noise).cpu().numpy() + 1) / 2
    confidence, classes = judge(samples, digits.data / 16.0, digits.target)
    print(f"D(real) {d_real:.3f}  D(fake) {d_fake:.3f}; a digit classifier on 1000 samples: mean confidence "
          f"{confidence:.2f}, {classes} of 10 classes generated")
    if args.plot:
        image_grid(grid.reshape(-1, 8, 8), args.plot, nrow=8, title=f"GAN samples after {args.epochs} epochs")

    metrics = {"d_loss": history["d_loss"][-1], "g_loss": history["g_loss"][-1], "d_real": d_real,
               "d_fake": d_fake, "classifier_confidence": confidence, "classes_generated": classes,
               "discriminator_frozen_ok": frozen_ok, "epochs": args.epochs, "seconds": timer.seconds}
    print_metrics("gan_digits", metrics)
    return metrics


if __name__ == "__main__":
    main()
