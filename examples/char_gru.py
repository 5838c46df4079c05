"""A character-level GRU language model trained on the docstrings of Python's standard library.

    python examples/char_gru.py [--epochs 8] [--device cuda] [--plot gru.png] [--temperature 0.8]

The text is what `inspect.getdoc` returns for a few standard-library modules and their public
functions and classes (so it ships with every Python). Model: nn.Embedding -> nn.GRU(batch_first=True)
-> nn.Linear over the characters. Training uses truncated backpropagation through time: the text is
cut into `batch_size` parallel streams, each step reads the next `seq_len` characters of every stream,
and the hidden state is carried over between steps but detached, so gradients stop at the window.
Adam with a one-cycle learning-rate schedule (OneCycleLR) and gradient-norm clipping at 1.0.
The last 10% of the text is held out to report validation loss (nats per character). At the end the
model writes text one character at a time with torch.multinomial.
"""
import importlib
import inspect
import math
import os
import string
import sys

import gpunet as torch
import gpunet.nn as nn
import gpunet.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RunningMean, Timer, make_parser, print_metrics, progress, pyplot, save_figure

PROMPT = "Return the "
MODULES = ["functools", "itertools", "collections", "json", "string", "textwrap", "shutil", "random",
           "inspect", "argparse", "pathlib", "os"]


def stdlib_docstrings(max_chars):
    """Docstrings of MODULES and their public members, printable ASCII only, up to max_chars."""
    allowed = set(string.printable) - set("\t\r\x0b\x0c")
    parts = []
    for name in MODULES:
        module = importlib.import_module(name)
        public = [getattr(module, attr) for attr in sorted(vars(module)) if not attr.startswith("_")]
        members = [module] + public
        for obj in members:
            if obj is not module and getattr(obj, "__module__", None) != name:
                continue  # re-exported from elsewhere
            doc = inspect.getdoc(obj)
            if doc:
                parts.append("".join(c for c in doc if c in allowed))
    return "\n\n".join(parts)[:max_chars]


class CharGRU(nn.Module):
    def __init__(self, vocab_size, embedding_dim=32, hidden_size=128, num_layers=1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        """tokens (batch, time) -> logits (batch, time, vocab), new hidden (layers, batch, hidden)."""
        output, hidden = self.gru(self.embedding(tokens), hidden)
        return self.head(output), hidden


def streams(encoded, batch_size):
    """(batch_size, length) view: row b is a contiguous slice of the text."""
    length = len(encoded) // batch_size
    return encoded[: length * batch_size].reshape(batch_size, length)


def sample(model, chars, prompt, n, temperature, device):
    """Continue prompt with n characters drawn one at a time from softmax(logits / temperature)."""
    index = {c: i for i, c in enumerate(chars)}
    model.eval()
    with torch.no_grad():
        tokens = torch.tensor([[index[c] for c in prompt if c in index]], device=device)
        logits, hidden = model(tokens)
        out = []
        for _ in range(n):
            probs = F.softmax(logits[0, -1] / temperature, dim=-1)
            next_token = torch.multinomial(probs, num_samples=1)
            out.append(chars[next_token.item()])
            logits, hidden = model(next_token.view(1, 1), hidden)
    return prompt + "".join(out)


def evaluate(model, data, seq_len):
    """Mean cross-entropy (nats per character) over data (batch, length), hidden state carried along."""
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, data.shape[1] - 1, seq_len):
            x = data[:, start:start + seq_len]
            y = data[:, start + 1:start + seq_len + 1]
            x = x[:, :y.shape[1]]
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
            total += loss.item()
            count += y.numel()
    return total / count


def main(argv=None):
    parser = make_parser(__doc__, epochs=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--max-chars", type=int, default=50_000)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args(argv)
    if args.fast:
        args.max_chars, args.batch_size, args.seq_len, args.hidden_size = 2_000, 8, 16, 32
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    text = stdlib_docstrings(args.max_chars)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    encoded = torch.tensor([index[c] for c in text], dtype=torch.int64)
    split = int(0.9 * len(encoded))
    train_data = streams(encoded[:split], args.batch_size).to(device)
    val_data = streams(encoded[split:], 4).to(device)
    steps_per_epoch = (train_data.shape[1] - 1) // args.seq_len  # the targets are shifted by one
    print(f"{len(text):,} characters of docstrings, {len(chars)} distinct; {steps_per_epoch} steps per epoch")

    model = CharGRU(len(chars), hidden_size=args.hidden_size).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch)
    losses, val_losses = [], []
    uniform = math.log(len(chars))  # the loss of a model that knows nothing
    print(f"loss of uniform guessing: {uniform:.3f}")
    with Timer() as timer:
        for epoch in range(1, args.epochs + 1):
            model.train()
            hidden, running = None, RunningMean()
            bar = progress(range(steps_per_epoch), f"epoch {epoch}/{args.epochs}", args)
            for step in bar:
                start = step * args.seq_len
                x = train_data[:, start:start + args.seq_len]
                y = train_data[:, start + 1:start + args.seq_len + 1]  # the next character of each position
                if hidden is not None:
                    hidden = hidden.detach()  # truncated BPTT: keep the state, drop its history
                logits, hidden = model(x, hidden)
                loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{running.update(losses[-1]):.3f}")
            val_losses.append(evaluate(model, val_data, args.seq_len))
            print(f"epoch {epoch}  train loss {running.value:.3f}  validation loss {val_losses[-1]:.3f}")

    text_out = sample(model, chars, PROMPT, 20 if args.fast else 300, args.temperature, device)
    print(f"--- sample (temperature {args.temperature}) ---\n{text_out}\n---")

    if args.plot:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(losses, lw=0.8, label="training (per step)")
        epoch_ends = [steps_per_epoch * (e + 1) for e in range(len(val_losses))]
        ax.plot(epoch_ends, val_losses, "o-", label="validation")
        ax.axhline(uniform, color="gray", ls="--", lw=0.8, label="uniform guessing")
        ax.set(xlabel="step", ylabel="cross-entropy (nats/char)", title="character-level GRU")
        ax.legend()
        save_figure(fig, args.plot)

    window = max(1, min(20, len(losses) // 4))
    metrics = {"first_loss": sum(losses[:window]) / window, "final_loss": sum(losses[-window:]) / window,
               "val_loss": val_losses[-1], "uniform_loss": uniform, "sample": text_out,
               "vocab_size": len(chars), "steps": len(losses), "seconds": timer.seconds}
    print_metrics("char_gru", {k: v for k, v in metrics.items() if k != "sample"})
    return metrics


if __name__ == "__main__":
    main()
