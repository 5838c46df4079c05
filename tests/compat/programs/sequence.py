"""Sequence models: GRU and LSTM classifiers over padded token batches, a hand-written attention block."""
import math

import numpy as np

from ._harness import program


def _tokens(rng, batch, max_len, vocab):
    """Right-padded token ids (0 = padding) and their lengths."""
    lengths = rng.integers(2, max_len + 1, batch)
    ids = np.zeros((batch, max_len), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, vocab, n)
    return ids, lengths


@program()
def gru_classifier(torch, init):
    """Variable-length sequences collated with pad_sequence, Embedding(padding_idx) -> 2-layer batch_first
    GRU -> Linear on each sequence's last valid output (picked by length, no packing); Adam."""
    nn = torch.nn
    pad_sequence = nn.utils.rnn.pad_sequence

    class GRUClassifier(nn.Module):
        def __init__(self, vocab, emb, hidden, classes):
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
            self.gru = nn.GRU(emb, hidden, num_layers=2, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, ids, lengths):
            out, _ = self.gru(self.embedding(ids))
            last = out[torch.arange(ids.size(0)), lengths - 1]
            return self.fc(last), out

    rng = np.random.default_rng(3)
    sequences = [torch.tensor(rng.integers(1, 12, n)) for n in rng.integers(2, 8, 5)]
    lengths = torch.tensor([len(s) for s in sequences])
    ids = pad_sequence(sequences, batch_first=True, padding_value=0)
    labels = torch.tensor(rng.integers(0, 3, 5))
    model = init(GRUClassifier(12, 6, 8, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        logits, out = model(ids, lengths)
        loss = nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    pad_grad_zero = bool((model.embedding.weight.grad[0] == 0).all())
    return {"losses": losses, "out_shape": list(out.shape), "pad_grad_zero": pad_grad_zero,
            "pad_row": model.embedding.weight[0].detach().numpy(),
            "params": {n: p.detach().numpy() for n, p in model.named_parameters()}}


@program(dtype="float64")
def lstm_tagger(torch, init):
    """Bidirectional LSTM over masked positions with an initial (h0, c0); per-token loss ignoring padding."""
    nn = torch.nn
    torch.manual_seed(0)

    class Tagger(nn.Module):
        def __init__(self, vocab, emb, hidden, tags):
            super().__init__()
            self.emb = nn.Embedding(vocab, emb, padding_idx=0)
            self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * hidden, tags)

        def forward(self, ids, state):
            out, (h, c) = self.lstm(self.emb(ids), state)
            return self.head(out), h, c

    rng = np.random.default_rng(4)
    ids, lengths = _tokens(rng, 4, 6, 10)
    ids = torch.from_numpy(ids)
    tags = torch.from_numpy(rng.integers(0, 5, (4, 6)))
    mask = torch.arange(6)[None, :] < torch.tensor(lengths)[:, None]
    tags = tags.masked_fill(~mask, -100)
    model = init(Tagger(10, 4, 5, 5).double())
    h0 = torch.zeros(2, 4, 5, dtype=torch.float64)
    c0 = torch.zeros_like(h0)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01, momentum=0.5)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        scores, h, c = model(ids, (h0, c0))
        loss = nn.functional.cross_entropy(scores.reshape(-1, 5), tags.reshape(-1), ignore_index=-100)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        scores, h, c = model(ids, (h0, c0))
        pred = scores.argmax(-1)
        correct = ((pred == tags) & mask).sum().item()
    return {"losses": losses, "h": h.numpy(), "c": c.numpy(), "correct": correct, "n": int(mask.sum()),
            "param_names": [n for n, _ in model.named_parameters()],
            "weights": {n: p.detach().numpy() for n, p in model.named_parameters()}}


@program(dtype="float64")
def attention_block(torch, init):
    """A pre-norm transformer block written by hand: LayerNorm, causal softmax attention, GELU MLP."""
    nn = torch.nn
    F = nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self, d_model, n_heads, max_len):
            super().__init__()
            self.n_heads = n_heads
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.dropout = nn.Dropout(0.1)
            self.register_buffer("mask",
                                 torch.tril(torch.ones(max_len, max_len)).view(1, 1, max_len, max_len))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.qkv(x).split(C, dim=2)
            q = q.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
            k = k.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
            v = v.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
            att = self.dropout(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.proj(y)

    class Block(nn.Module):
        def __init__(self, d_model, n_heads, max_len):
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model)
            self.attn = CausalSelfAttention(d_model, n_heads, max_len)
            self.ln2 = nn.LayerNorm(d_model)
            self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                     nn.Linear(4 * d_model, d_model))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    torch.set_default_dtype(torch.float64)
    try:
        block = init(Block(8, 2, 6))
        head = init(nn.Linear(8, 11))
    finally:
        torch.set_default_dtype(torch.float32)
    block.eval()  # attention dropout off
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((3, 5, 8)))
    target = torch.tensor(rng.integers(0, 11, (3, 5)))
    params = list(block.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        logits = head(block(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), target.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # causality: changing the last position must not change earlier outputs
    with torch.no_grad():
        y1 = block(x)
        x2 = x.clone()
        x2[:, -1] += 1.0
        y2 = block(x2)
    causal = torch.allclose(y1[:, :-1], y2[:, :-1])
    return {"losses": losses, "y": y1.numpy(), "causal": causal, "mask_sum": block.attn.mask.sum().item(),
            "buffers": [n for n, _ in block.named_buffers()]}
