"""An autoencoder that learns to send 4-bit messages over a noisy channel, then adapts its receiver alone.

    python examples/autoencoder_channel.py [--epochs 20] [--device cuda] [--plot channel.png]

Transmitter (encoder): a message m in 0..15 (4 bits), one-hot -> 32 -> 2 numbers, a point in the
plane, normalized to unit average power. Channel: received = transmitted @ response.T + Gaussian
noise. Receiver (decoder): 2 -> 64 -> 64 -> 16 logits (--hidden sets the widths). Encoder and
decoder train jointly (one Adam over net.parameters()) through the noisy channel with cross-entropy:
they invent a 16-point constellation, like 16-QAM.

Then the channel changes (a 30 degree phase rotation and 20% attenuation). The transmitter is deployed
and cannot change, so only the receiver is fine-tuned, with a second optimizer over
net.decoder.parameters(). Reported: message (block) and bit accuracy on the original channel, on the
changed channel before fine-tuning the decoder, and after it.
"""
import math
import os
import sys

import gpunet as torch
import gpunet.nn as nn
import gpunet.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RunningMean, Timer, make_parser, print_metrics, progress, pyplot, save_figure

BITS = 4
M = 2 ** BITS


class NoisyChannel(nn.Module):
    """y = x @ response.T + noise_std * N(0, 1): a linear channel with additive white Gaussian noise."""

    def __init__(self, n, noise_std):
        super().__init__()
        self.noise_std = noise_std
        self.register_buffer("response", torch.eye(n))  # a buffer: saved and moved with .to(), never trained

    def forward(self, x):
        return x @ self.response.T + self.noise_std * torch.randn_like(x)


class ChannelAutoencoder(nn.Module):
    def __init__(self, channel_uses=2, noise_std=0.2, hidden=32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(M, hidden), nn.ReLU(), nn.Linear(hidden, channel_uses))
        self.channel = NoisyChannel(channel_uses, noise_std)
        self.decoder = nn.Sequential(nn.Linear(channel_uses, 2 * hidden), nn.ReLU(),
                                     nn.Linear(2 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, M))

    def transmit(self, messages):
        x = self.encoder(F.one_hot(messages, M).float())
        return x / x.pow(2).mean().sqrt()  # unit average power over the batch (the transmitter's budget)

    def forward(self, messages):
        return self.decoder(self.channel(self.transmit(messages)))


def accuracy(net, device, n=20000):
    """(message accuracy, bit accuracy) over n random messages."""
    with torch.no_grad():
        sent = torch.randint(0, M, (n,), device=device)
        received = net(sent).argmax(dim=1)
        place = 2 ** torch.arange(BITS, device=device)  # message -> its bits: (m // 2**i) % 2
        wrong_bits = ((sent.unsqueeze(1) // place) % 2 != (received.unsqueeze(1) // place) % 2).float().mean()
        return (received == sent).float().mean().item(), 1.0 - wrong_bits.item()


def train(net, optimizer, steps, batch_size, device, desc, args, scheduler=None):
    """Train on fresh random messages each step (scheduler: stepped every batch); returns the losses."""
    losses, running = [], RunningMean()
    bar = progress(range(steps), desc, args)
    for _ in bar:
        messages = torch.randint(0, M, (batch_size,), device=device)
        loss = F.cross_entropy(net(messages), messages)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{running.update(losses[-1]):.4f}")
    return losses


def main(argv=None):
    parser = make_parser(__doc__, epochs=20)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--noise-std", type=float, default=0.2)
    parser.add_argument("--hidden", type=int, default=32, help="encoder width; the decoder's is twice that")
    args = parser.parse_args(argv)
    if args.fast:
        args.steps_per_epoch, args.batch_size, args.hidden = 20, 64, 8
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    net = ChannelAutoencoder(noise_std=args.noise_std, hidden=args.hidden).to(device)
    steps = args.epochs * args.steps_per_epoch

    with Timer() as timer:
        # 1. Joint training: one optimizer over every parameter, encoder and decoder.
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        joint_losses = []
        for epoch in range(1, args.epochs + 1):
            joint_losses += train(net, optimizer, args.steps_per_epoch, args.batch_size, device,
                                  f"joint {epoch}/{args.epochs}", args, scheduler)
        net.eval()
        trained = accuracy(net, device)
        print(f"after joint training: message accuracy {trained[0]:.2%}, bit accuracy {trained[1]:.2%}")

        # 2. The channel changes: rotation by 30 degrees and 20% attenuation.
        angle = math.radians(30)
        net.channel.response.copy_(0.8 * torch.tensor([[math.cos(angle), -math.sin(angle)],
                                                       [math.sin(angle), math.cos(angle)]]))
        before = accuracy(net, device)
        print(f"channel changed, before decoder fine-tuning: message accuracy {before[0]:.2%}, "
              f"bit accuracy {before[1]:.2%}")

        # 3. Fine-tune the receiver alone: a second optimizer over the decoder's parameters. Freezing the
        #    encoder also spares computing its gradients (nobody would use them).
        encoder_before = [p.detach().clone() for p in net.encoder.parameters()]
        net.encoder.requires_grad_(False)
        decoder_optimizer = torch.optim.Adam(net.decoder.parameters(), lr=1e-3)
        fine_tune_steps = max(args.steps_per_epoch, steps // 3)
        fine_tune_losses = train(net, decoder_optimizer, fine_tune_steps, args.batch_size, device,
                                 "decoder fine-tuning", args)
        after = accuracy(net, device)
        print(f"after decoder fine-tuning:                  message accuracy {after[0]:.2%}, "
              f"bit accuracy {after[1]:.2%}")
    encoder_unchanged = all(torch.equal(a, b) for a, b in zip(encoder_before, net.encoder.parameters()))

    if args.plot:
        plot_constellation(net, device, args.plot)

    window = max(1, min(50, len(joint_losses) // 4))  # losses are noisy: compare means over a window
    metrics = {"message_accuracy": trained[0], "bit_accuracy": trained[1],
               "changed_channel_accuracy_before": before[0], "changed_channel_accuracy_after": after[0],
               "changed_channel_bit_accuracy_before": before[1],
               "changed_channel_bit_accuracy_after": after[1],
               "first_loss": sum(joint_losses[:window]) / window,
               "final_loss": sum(joint_losses[-window:]) / window,
               "fine_tune_first_loss": sum(fine_tune_losses[:window]) / window,
               "fine_tune_final_loss": sum(fine_tune_losses[-window:]) / window,
               "encoder_unchanged": encoder_unchanged, "steps": steps, "seconds": timer.seconds}
    print_metrics("autoencoder_channel", metrics)
    return metrics


def plot_constellation(net, device, path):
    """The learned constellation (a colour per message) and what the receiver sees on the changed channel."""
    plt = pyplot()
    with torch.no_grad():
        messages = torch.arange(M, device=device).repeat(200)
        sent = net.transmit(messages)
        received = net.channel(sent)
    messages, sent, received = messages.cpu().numpy(), sent.cpu().numpy(), received.cpu().numpy()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    for ax, points, title, size in ((axes[0], sent[:M], "transmitted (learned constellation)", 40),
                                    (axes[1], received, "received on the changed channel", 4)):
        ax.scatter(points[:, 0], points[:, 1], c=messages[:len(points)], cmap="tab20", s=size)
        ax.set(title=title, aspect="equal", xlim=(-2.2, 2.2), ylim=(-2.2, 2.2))
    save_figure(fig, path)


if __name__ == "__main__":
    main()
