"""Tensor-level code: indexing, reshaping, gather/scatter, masks, in-place updates; dtypes and conversions."""
import numpy as np

from ._harness import program


@program(dtype="float64")
def tensor_manipulation(torch, init):
    """view/permute/cat/stack/gather/scatter/masked_fill/where/bool-mask indexing, gradients through them,
    and in-place updates under no_grad (a hand-written SGD step)."""
    rng = np.random.default_rng(13)
    x = torch.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    w = torch.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    idx = torch.tensor([[0, 2], [1, 1], [5, 3], [4, 0]])

    a = x.view(4, 2, 3).permute(2, 0, 1)                      # (3, 4, 2)
    b = torch.cat([a, a * 2], dim=2).reshape(3, -1)           # (3, 16)
    c = torch.stack([b[:, :4], b[:, 4:8]], dim=0).sum(0)      # (3, 4)
    picked = torch.gather(x, 1, idx)                          # (4, 2)
    scattered = torch.zeros(4, 6, dtype=torch.float64).scatter(1, idx, picked * 10)
    mask = x > 0.5
    clipped = x.masked_fill(mask, 0.5)
    signed = torch.where(x < 0, -x, x ** 2)
    positives = x[mask]
    rows = x[torch.tensor([True, False, True, False])]
    y = (c.t() @ w).pow(2).mean() + scattered.sum() + clipped.sum() + signed.mean() + positives.sum() * 0.1
    y = y + rows[:, ::2].sum() + x[1:3, -2:].exp().sum() + x.unsqueeze(0).expand(2, 4, 6).mean()
    y.backward()

    with torch.no_grad():
        lr = 0.1
        x -= lr * x.grad
        w.sub_(lr * w.grad)
        x[x.abs() < 0.05] = 0.0
        w.clamp_(-1.0, 1.0)
        x.grad.zero_()
    row_max, row_arg = x.max(dim=1)
    one_hot = torch.zeros(4, 6).scatter_(1, row_arg.unsqueeze(1), 1.0)
    chunks = [t.sum().item() for t in x.detach().chunk(3, dim=1)]
    split = [list(t.shape) for t in torch.split(x.detach(), [2, 4], dim=1)]
    return {"y": y.item(), "x": x.detach().numpy(), "w": w.detach().numpy(), "x_grad": x.grad.numpy(),
            "picked": picked.detach().numpy(), "n_pos": int(mask.sum()),
            "positives": positives.detach().numpy(),
            "row_max": row_max.detach().numpy(), "row_arg": row_arg.tolist(), "one_hot": one_hot.numpy(),
            "argmax_flat": x.argmax().item(), "chunks": chunks, "split": split,
            "nonzero": torch.nonzero(one_hot).tolist(), "flip": x.detach().flip(0)[0].numpy(),
            "triu": torch.triu(torch.ones(3, 3), diagonal=1).sum().item(), "version_ok": x.grad_fn is None}


@program()
def dtype_details(torch, init):
    """Creation from lists, arange/linspace, *_like, dtype promotion, .float()/.long()/.item()/.tolist()."""
    labels = torch.tensor([2, 0, 1, 1])
    weights = torch.tensor([[0.5, 1.5], [2.0, -1.0]])
    ints = torch.arange(10)
    r = torch.arange(0, 1, 0.25)
    lin = torch.linspace(-1, 1, steps=5)
    z = torch.zeros_like(weights)
    o = torch.ones_like(labels, dtype=torch.float32)
    f = torch.full((2, 2), 7)
    mean_label = labels.float().mean()
    half = ints / 2
    floor = ints // 3
    mixed = labels * 0.5
    scaled = weights * 2 + 1
    counts = (ints % 3 == 0).sum()
    one_hot = torch.nn.functional.one_hot(labels, num_classes=3)
    probs = torch.softmax(one_hot.float() * 2.0, dim=-1)

    def names(t):
        return str(t.dtype).split(".")[-1]

    return {
        "dtypes": [names(t) for t in (labels, weights, ints, r, lin, z, o, f, mean_label, half, floor, mixed,
                                       scaled, counts, one_hot, probs, labels.long(), weights.double(),
                                       weights > 0, (weights > 0).int(), torch.tensor(3.5),
                                       torch.tensor(True))],
        "is_float": [labels.is_floating_point(), weights.is_floating_point()],
        "default_dtype": names(torch.tensor(0.0)),
        "eq": [weights.dtype == torch.float32, labels.dtype == torch.long, ints.dtype == torch.int64],
        "values": {"r": r.tolist(), "lin": lin.tolist(), "half": half.tolist(), "floor": floor.tolist(),
                   "mixed": mixed.tolist(), "scaled": scaled.tolist(), "f": f.tolist(), "o": o.tolist()},
        "items": [labels[0].item(), weights[1, 0].item(), counts.item(), mean_label.item(),
                  type(labels[0].item()).__name__, type(weights[0, 0].item()).__name__],
        "shape": [list(weights.shape), weights.size(0), weights.dim(), weights.numel(), len(labels)],
        "probs": probs.numpy(),
        "python": [int(labels.sum()), float(weights.max()), bool(labels.any()), labels.tolist()],
        "cast": [torch.tensor([1.7, -1.7]).long().tolist(), torch.tensor([0, 2]).bool().tolist(),
                 torch.tensor([1, 2], dtype=torch.float64).float().dtype == torch.float32],
        "numpy_dtype": [str(weights.numpy().dtype), str(labels.numpy().dtype)],
        "from_numpy": str(torch.from_numpy(np.arange(3, dtype=np.float64)).dtype).split(".")[-1],
    }
