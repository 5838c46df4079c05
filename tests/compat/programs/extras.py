"""Less common but real patterns: LBFGS with a closure, functional-style 1-D conv nets with assorted
losses, a weight-tied language model with gradient accumulation, autograd and scheduler utilities."""
import copy
import os
import tempfile

import numpy as np

from ._harness import program


@program(dtype="float64")
def lbfgs_regression(torch, init):
    """Polynomial regression fitted with LBFGS(line_search_fn='strong_wolfe') and a closure."""
    nn = torch.nn
    xs = torch.linspace(-1, 1, 30, dtype=torch.float64).unsqueeze(1)
    ys = 0.5 - 2 * xs + 3 * xs ** 3 + 0.1 * torch.sin(7 * xs)
    features = torch.cat([xs ** k for k in range(1, 5)], dim=1)
    model = init(nn.Linear(4, 1).double())
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=15, history_size=5,
                                  line_search_fn="strong_wolfe")
    evals = []

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(features), ys)
        loss.backward()
        evals.append(loss.item())
        return loss

    step_losses = [optimizer.step(closure).item() for _ in range(2)]
    return {"step_losses": step_losses, "n_evals": len(evals), "evals": evals,
            "weight": model.weight.detach().numpy(), "bias": model.bias.detach().numpy(),
            "func_evals": optimizer.state[model.weight]["func_evals"]}


@program(dtype="float64")
def functional_conv1d(torch, init):
    """A 1-D conv net written with nn.functional and raw Parameters: conv1d, GroupNorm, pooling, padding,
    interpolate; trained with a mix of losses (class-weighted NLL, KLDiv, BCEWithLogits pos_weight, Huber)."""
    nn = torch.nn
    F = nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Parameter(torch.randn(6, 2, 3, dtype=torch.float64) * 0.3)
            self.b1 = nn.Parameter(torch.zeros(6, dtype=torch.float64))
            self.gn = nn.GroupNorm(2, 6).double()
            self.conv2 = nn.Conv1d(6, 4, kernel_size=3, padding="same", dilation=2).double()
            self.out = nn.Linear(4 * 4, 3).double()

        def forward(self, x):
            x = F.pad(x, (1, 1), mode="reflect")
            x = F.silu(self.gn(F.conv1d(x, self.w1, self.b1)))
            x = F.max_pool1d(x, 2)
            x = F.interpolate(x, scale_factor=2, mode="linear", align_corners=False)
            x = F.avg_pool1d(F.elu(self.conv2(x)), kernel_size=2)
            x = F.adaptive_avg_pool1d(x, 4)
            return self.out(F.dropout(x.flatten(1), p=0.3, training=False))

    model = init(Net())
    rng = np.random.default_rng(14)
    x = torch.tensor(rng.standard_normal((5, 2, 12)))
    y = torch.tensor(rng.integers(0, 3, 5))
    soft = torch.softmax(torch.tensor(rng.standard_normal((5, 3))), dim=1)
    multi = torch.tensor(rng.integers(0, 2, (5, 3)).astype(np.float64))
    class_w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    opt = torch.optim.NAdam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        logits = model(x)
        logp = F.log_softmax(logits, dim=1)
        parts = [F.nll_loss(logp, y, weight=class_w), F.kl_div(logp, soft, reduction="batchmean"),
                 F.binary_cross_entropy_with_logits(logits, multi, pos_weight=torch.full((3,), 2.0,
                                                                                        dtype=torch.float64)),
                 nn.HuberLoss(delta=0.5)(logits, multi)]
        loss = sum(parts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append([p.item() for p in parts])
    return {"losses": losses, "params": {n: p.detach().numpy() for n, p in model.named_parameters()}}


@program()
def tied_language_model(torch, init):
    """Embedding tied to the output projection, an LSTMCell unrolled by hand, gradient accumulation over
    micro-batches, deepcopy for an EMA model, and a checkpoint of the tied weights."""
    nn = torch.nn

    class TinyLM(nn.Module):
        def __init__(self, vocab, dim):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.cell = nn.LSTMCell(dim, dim)
            self.decoder = nn.Linear(dim, vocab, bias=False)
            self.decoder.weight = self.embed.weight  # weight tying

        def forward(self, ids):
            h = ids.new_zeros((ids.size(0), self.cell.hidden_size), dtype=torch.float32)
            c = torch.zeros_like(h)
            logits = []
            for t in range(ids.size(1)):
                h, c = self.cell(self.embed(ids[:, t]), (h, c))
                logits.append(self.decoder(h))
            return torch.stack(logits, dim=1)

    model = init(TinyLM(9, 6))
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    rng = np.random.default_rng(15)
    data = torch.tensor(rng.integers(0, 9, (4, 6)))
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1)
    accum, losses = 2, []
    for step in range(2):
        optimizer.zero_grad()
        for micro in data.split(2):
            logits = model(micro[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, 9), micro[:, 1:].reshape(-1)) / accum
            loss.backward()
            losses.append(loss.item())
        optimizer.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), model.parameters()):
                pe.mul_(0.9).add_(p, alpha=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lm.pt")
        torch.save(model.state_dict(), path)
        sd = torch.load(path)
    restored = TinyLM(9, 6)
    restored.load_state_dict(sd)
    with torch.no_grad():
        same = torch.equal(restored(data), model(data))
    return {"losses": losses, "n_params": len(list(model.parameters())), "keys": sorted(sd),
            "tied": model.decoder.weight is model.embed.weight, "restored_same": same,
            "restored_tied": restored.decoder.weight is restored.embed.weight,
            "ema": [p.numpy() for p in ema.parameters()],
            "params": [p.detach().numpy() for p in model.parameters()]}


@program(dtype="float64")
def autograd_and_schedulers(torch, init):
    """autograd.grad with retain_graph, tensor hooks, retain_grad, requires_grad_ on a module,
    load_state_dict(strict=False), parameters_to_vector; MultiStepLR chained with ExponentialLR and a
    ReduceLROnPlateau driven by a validation metric."""
    nn = torch.nn
    model = init(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double())
    x = torch.tensor([[0.1, -0.2, 0.3], [1.0, 0.5, -0.5]], dtype=torch.float64, requires_grad=True)
    out = model(x)
    hidden = model[1](model[0](x))
    hidden.retain_grad()
    (gx,) = torch.autograd.grad(out.sum(), x, retain_graph=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.clone()) or g * 2)
    (model[2](hidden).sum() + out.sum()).backward()
    handle.remove()
    grads = {"gx": gx.numpy(), "x_grad": x.grad.numpy(), "hook": seen[0].numpy(),
             "hidden_grad": hidden.grad.numpy(), "w_grad": model[0].weight.grad.numpy()}

    model.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(True)
    result = model.load_state_dict({"0.weight": model[0].weight.detach() * 0.5, "extra": torch.zeros(1)},
                                   strict=False)
    vec = nn.utils.parameters_to_vector(model.parameters())

    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.ChainedScheduler([
        torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5),
        torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    lrs = []
    for _ in range(6):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2, mode="min", factor=0.5, patience=1)
    plateau_lrs = []
    for metric in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7]:
        opt2.step()
        plateau.step(metric)
        plateau_lrs.append(opt2.param_groups[0]["lr"])
    return {"grads": grads, "flags": flags, "missing": sorted(result.missing_keys),
            "unexpected": result.unexpected_keys, "vec": vec.detach().numpy(), "lrs": lrs,
            "plateau_lrs": plateau_lrs, "sched_keys": sorted(plateau.state_dict())}
