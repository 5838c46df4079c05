"""A word-level LSTM language model in the shape of PyTorch's official example (batchify, truncated BPTT,
repackaged hidden state, gradient clipping, lr annealing, the best model saved whole with torch.save and
reloaded with torch.load(weights_only=False)), on a small synthetic corpus. Unmodified PyTorch program."""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.decoder.out_features)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def corpus(n_words, successors, rng):
    """A Markov chain: each word has 3 likely successors, so there is something to learn."""
    vocab = len(successors)
    words = [0]
    for _ in range(n_words - 1):
        words.append(int(successors[words[-1], rng.integers(0, 3)]) if rng.random() < 0.9
                     else int(rng.integers(0, vocab)))
    return torch.tensor(words, dtype=torch.long)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=20)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--bptt", type=int, default=12)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true")
    parser.add_argument("--save", default="model.pt")
    parser.add_argument("--init")
    parser.add_argument("--save-init")
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(1111)

    rng = np.random.default_rng(0)
    vocab = 50
    successors = rng.integers(0, vocab, size=(vocab, 3))
    train_data = batchify(corpus(2400, successors, rng), 10)
    val_data = batchify(corpus(600, successors, rng), 5)
    model = RNNModel(vocab, 16, 16, 2, args.dropout, args.tied)
    if args.init:
        arrays = np.load(args.init)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    if args.save_init:
        np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    criterion = nn.NLLLoss()

    def evaluate(data_source):
        model.eval()
        total_loss = 0.0
        hidden = model.init_hidden(5)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, args.bptt):
                data, targets = get_batch(data_source, i, args.bptt)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    lr, best_val_loss, losses, val_losses = args.lr, None, [], []
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden = model.init_hidden(10)
        for i in range(0, train_data.size(0) - 1, args.bptt):
            data, targets = get_batch(train_data, i, args.bptt)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            losses.append(loss.item())
        val_loss = evaluate(val_data)
        val_losses.append(val_loss)
        print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f}")
        if not best_val_loss or val_loss < best_val_loss:
            with open(args.save, "wb") as f:
                torch.save(model, f)
            best_val_loss = val_loss
        else:
            lr /= 4.0

    with open(args.save, "rb") as f:
        model = torch.load(f, weights_only=False)
        model.rnn.flatten_parameters()
    test_loss = evaluate(val_data)
    os.remove(args.save)
    print(f"| End of training | test loss {test_loss:5.2f} | test ppl {math.exp(test_loss):8.2f}")
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"losses": losses, "val_losses": val_losses, "test_loss": test_loss}, f)


if __name__ == "__main__":
    main()
