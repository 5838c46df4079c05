"""The LSTM part-of-speech tagger of PyTorch's tutorial, on a small made-up corpus (unmodified program)."""
import argparse
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

TRAINING_DATA = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
    ("The cat saw a dog".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("A man read the paper".split(), ["DET", "NN", "V", "DET", "NN"]),
]
TAGS = {"DET": 0, "NN": 1, "V": 2}


def prepare_sequence(seq, to_ix):
    return torch.tensor([to_ix[w] for w in seq], dtype=torch.long)


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        return F.log_softmax(tag_space, dim=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--init")
    parser.add_argument("--save-init")
    parser.add_argument("--log")
    args = parser.parse_args()
    torch.manual_seed(1)

    word_to_ix = {}
    for sent, _ in TRAINING_DATA:
        for word in sent:
            word_to_ix.setdefault(word, len(word_to_ix))
    model = LSTMTagger(6, 6, len(word_to_ix), len(TAGS))
    if args.init:
        arrays = np.load(args.init)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    if args.save_init:
        np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    losses = []
    for epoch in range(args.epochs):
        total = 0.0
        for sentence, tags in TRAINING_DATA:
            model.zero_grad()
            tag_scores = model(prepare_sequence(sentence, word_to_ix))
            loss = loss_function(tag_scores, prepare_sequence(tags, TAGS))
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(TRAINING_DATA))
    with torch.no_grad():
        scores = model(prepare_sequence(TRAINING_DATA[0][0], word_to_ix))
        predicted = scores.argmax(dim=1).tolist()
    print(f"final loss {losses[-1]:.4f}; tags of {' '.join(TRAINING_DATA[0][0])!r}: {predicted}")
    if args.log:
        with open(args.log, "w") as f:
            json.dump({"losses": losses, "predicted": predicted}, f)


if __name__ == "__main__":
    main()
