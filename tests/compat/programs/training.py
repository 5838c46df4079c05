"""Training-loop machinery: clipping + warmup, fine-tuning with frozen layers, DataLoader loops,
checkpoint resume, and a GAN step with two optimizers."""
import itertools
import os
import tempfile

import numpy as np

from ._harness import program


def _mlp(nn, sizes):
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@program()
def clip_and_warmup(torch, init):
    """clip_grad_norm_ every step, linear warmup with LambdaLR, then a OneCycleLR run on AdamW."""
    nn = torch.nn
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.standard_normal((16, 5)) * 3, dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((16, 2)) * 3, dtype=torch.float32)

    model = init(_mlp(nn, [5, 12, 2]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    warmup = 4
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    losses, norms, lrs = [], [], []
    for _ in range(6):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)))
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append(optimizer.param_groups[0]["lr"])
    clipped = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()

    model2 = init(_mlp(nn, [5, 12, 2]))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3, weight_decay=0.05)
    onecycle = torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.05, total_steps=8, pct_start=0.25)
    losses2, lrs2, betas = [], [], []
    for _ in range(8):
        opt2.zero_grad()
        loss = nn.functional.smooth_l1_loss(model2(x), y)
        loss.backward()
        nn.utils.clip_grad_value_(model2.parameters(), 0.5)
        opt2.step()
        onecycle.step()
        losses2.append(loss.item())
        lrs2.append(onecycle.get_last_lr()[0])
        betas.append(opt2.param_groups[0]["betas"][0])
    return {"losses": losses, "norms": norms, "clipped_norm": clipped, "lrs": lrs, "losses2": losses2,
            "lrs2": lrs2, "betas": betas, "params": [p.detach().numpy() for p in model2.parameters()]}


@program()
def finetune_frozen(torch, init):
    """Frozen backbone, two param groups (head and norm layer at different lrs), unfreezing later
    through add_param_group; frozen weights must not move, even with weight decay and momentum."""
    nn = torch.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU())
            self.norm = nn.LayerNorm(10)
            self.head = nn.Linear(10, 3)

        def forward(self, x):
            return self.head(self.norm(self.backbone(x)))

    model = init(Classifier())
    for p in model.backbone.parameters():
        p.requires_grad = False
    frozen_before = [p.detach().clone() for p in model.backbone.parameters()]
    optimizer = torch.optim.SGD([{"params": model.head.parameters()},
                                 {"params": model.norm.parameters(), "lr": 0.01}],
                                lr=0.1, momentum=0.9, weight_decay=1e-3)
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.standard_normal((12, 6)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 12))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    frozen_unchanged = all(torch.equal(a, b) for a, b in zip(frozen_before, model.backbone.parameters()))
    backbone_grads_none = all(p.grad is None for p in model.backbone.parameters())

    for p in model.backbone.parameters():
        p.requires_grad_(True)
    optimizer.add_param_group({"params": list(model.backbone.parameters()), "lr": 0.001})
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    sd = optimizer.state_dict()
    return {"losses": losses, "trainable": trainable, "frozen_unchanged": frozen_unchanged,
            "backbone_grads_none": backbone_grads_none, "groups": [sorted(g) for g in groups],
            "lrs": [g["lr"] for g in groups], "param_ids": [g["params"] for g in sd["param_groups"]],
            "state_ids": sorted(sd["state"]),
            "params": {n: p.detach().numpy() for n, p in model.named_parameters()}}


@program()
def dataloader_loop(torch, init):
    """TensorDataset + DataLoader (shuffle=False), train()/eval() epochs, no_grad evaluation, accuracy;
    device-agnostic (gpunet's simulated cuda device runs it under the test suite)."""
    nn = torch.nn
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from_numpy = torch.from_numpy
    DataLoader = torch.utils.data.DataLoader
    TensorDataset = torch.utils.data.TensorDataset

    rng = np.random.default_rng(10)
    centers = rng.standard_normal((3, 4)) * 2
    labels = rng.integers(0, 3, 50)
    feats = (centers[labels] + rng.standard_normal((50, 4))).astype(np.float32)
    train_ds = TensorDataset(from_numpy(feats[:40]), from_numpy(labels[:40]))
    val_ds = TensorDataset(from_numpy(feats[40:]), from_numpy(labels[40:]))
    train_loader = DataLoader(train_ds, batch_size=16, shuffle=False)
    val_loader = DataLoader(val_ds, batch_size=4, shuffle=False, drop_last=True)

    # no bias before BatchNorm: its true gradient is 0 and Adam would amplify rounding noise
    model = init(nn.Sequential(nn.Linear(4, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p=0.0),
                               nn.Linear(16, 3))).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss(reduction="sum")
    history = []
    for epoch in range(3):
        model.train()
        total, batches = 0.0, 0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device, non_blocking=True)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb) / len(yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        model.eval()
        correct, seen, val_loss = 0, 0, 0.0
        with torch.no_grad():
            for xb, yb in val_loader:
                xb, yb = xb.to(device), yb.to(device)
                out = model(xb)
                val_loss += criterion(out, yb).item()
                correct += (out.argmax(1) == yb).sum().item()
                seen += yb.size(0)
        history.append({"train_loss": total / batches, "val_loss": val_loss / seen, "acc": correct / seen,
                        "batches": batches, "training": model.training})
    return {"len": [len(train_ds), len(train_loader), len(val_loader)], "history": history,
            "first_batch": [list(t.shape) for t in next(iter(train_loader))],
            "label_dtype": (str(next(iter(train_loader))[1].dtype)
                            .replace("torch.", "").replace("gpunet.", "")),
            "device_type": model[0].weight.device.type == device.type,
            "params": [p.detach().cpu().numpy() for p in model.parameters()]}


@program()
def checkpoint_resume(torch, init):
    """torch.save / torch.load of model + optimizer + scheduler state; resuming reproduces an
    uninterrupted run bit for bit (within each library)."""
    nn = torch.nn
    rng = np.random.default_rng(11)
    x = torch.tensor(rng.standard_normal((20, 3)), dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((20, 1)), dtype=torch.float32)

    def make():
        model = init(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)))
        opt = torch.optim.Adam(model.parameters(), lr=0.02, amsgrad=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=1e-4)
        return model, opt, sched

    def train(model, opt, sched, steps):
        out = []
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            out.append(loss.item())
        return out

    model, opt, sched = make()
    straight = train(model, opt, sched, 6)
    final = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = make()
    first = train(model, opt, sched, 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ckpt.pt")
        torch.save({"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "note": "halfway"}, path)
        ckpt = torch.load(path)
    model, opt, sched = make()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    second = train(model, opt, sched, 3)
    bitwise = first + second == straight and all(torch.equal(a, b) for a, b in zip(final, model.parameters()))
    state = ckpt["optimizer"]["state"][0]
    return {"losses": straight, "bitwise_resume": bitwise, "epoch": ckpt["epoch"], "note": ckpt["note"],
            "state_keys": sorted(state), "step": float(state["step"]), "lr": sched.get_last_lr(),
            "model_keys": list(ckpt["model"]), "params": [p.detach().numpy() for p in model.parameters()]}


@program()
def whole_model_checkpoint(torch, init):
    """torch.save(model) and torch.save({"model": model, "optimizer": opt}); torch.load refuses them by
    default (weights_only) and loads them with weights_only=False; training then continues, tied
    parameters stay one Parameter and the optimizer steps the loaded model's parameters."""
    import pickle

    nn = torch.nn
    rng = np.random.default_rng(13)
    x = torch.tensor(rng.standard_normal((16, 4)), dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((16, 4)), dtype=torch.float32)
    model = init(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 4)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def train(model, opt, steps):
        out = []
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    first = train(model, opt, 2)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pt")
        torch.save(model, path)
        try:
            torch.load(path)
            refused = None
        except pickle.UnpicklingError as e:
            refused = "Sequential" in str(e) and "weights_only" in str(e)
        loaded = torch.load(path, weights_only=False)
        torch.save({"model": model, "optimizer": opt}, path)
        ckpt = torch.load(path, weights_only=False)
    loaded.eval()
    model.eval()
    same_output = torch.equal(loaded(x), model(x))
    loaded.train()
    model.train()
    resumed = train(ckpt["model"], ckpt["optimizer"], 3)
    straight = train(model, opt, 3)
    loaded_opt = torch.optim.SGD(loaded.parameters(), lr=0.05)
    more = train(loaded, loaded_opt, 2)
    steps_own_params = all(p is q for p, q in zip(ckpt["model"].parameters(),
                                                  ckpt["optimizer"].param_groups[0]["params"]))
    return {"first": first, "refused": refused, "same_output": same_output, "resumed": resumed,
            "straight": straight, "more": more, "steps_own_params": steps_own_params,
            "types": [type(p).__name__ for p in loaded.parameters()],
            "running_mean": loaded[1].running_mean.detach().numpy()}


@program()
def gan_step(torch, init):
    """A GAN update: D on real vs G(z).detach(), then G through D; two Adam optimizers, BCEWithLogitsLoss."""
    nn = torch.nn
    G = init(nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 2)))
    D = init(nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(12)
    real = torch.tensor(rng.standard_normal((8, 2)) + [2.0, -1.0], dtype=torch.float32)
    noise = [torch.tensor(rng.standard_normal((8, 3)), dtype=torch.float32) for _ in range(3)]
    ones, zeros = torch.ones(8, 1), torch.zeros(8, 1)
    d_losses, g_losses, d_grad_after_g = [], [], []
    for z in noise:
        fake = G(z)
        opt_d.zero_grad()
        d_loss = criterion(D(real), ones) + criterion(D(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        g_has_grad = any(p.grad is not None for p in G.parameters())

        opt_g.zero_grad()
        g_loss = criterion(D(fake), ones)
        g_loss.backward()
        opt_g.step()
        d_grad_after_g.append(D[0].weight.grad.abs().sum().item())
        d_losses.append(d_loss.item())
        g_losses.append(g_loss.item())
    return {"d_losses": d_losses, "g_losses": g_losses, "g_has_grad_after_d": g_has_grad,
            "d_grad_after_g": d_grad_after_g, "G": [p.detach().numpy() for p in G.parameters()],
            "D": [p.detach().numpy() for p in D.parameters()]}
