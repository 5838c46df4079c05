"""Feed-forward models as users write them: an MLP classifier, a CNN, a convolutional autoencoder."""
import numpy as np

from ._harness import program


def _params(model):
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


@program()
def mlp_classifier(torch, init):
    """MLP + CrossEntropyLoss + SGD(momentum, nesterov, weight_decay) + StepLR, argmax predictions."""
    nn = torch.nn
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((32, 10)).astype(np.float32))
    y = torch.tensor(rng.integers(0, 4, 32))

    model = init(nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4)))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    losses, lrs = [], []
    for epoch in range(8):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append(scheduler.get_last_lr()[0])

    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    return {"losses": losses, "lrs": lrs, "params": _params(model), "pred": pred.tolist(),
            "accuracy": (pred == y).float().mean().item()}


@program()
def cnn_classifier(torch, init):
    """Conv2d/BatchNorm2d/ReLU/MaxPool2d/AdaptiveAvgPool2d/Flatten/Linear/Dropout, Adam with weight decay."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self, num_classes=3):
            super().__init__()
            # no conv bias before BatchNorm: its true gradient is 0, and Adam would amplify rounding noise
            self.features = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(4),
                nn.ReLU(inplace=True), nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                nn.AdaptiveAvgPool2d((1, 1)),
            )
            self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.standard_normal((6, 1, 8, 8)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, 6))

    model = init(Net())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    losses = []
    model.train()
    for m in model.modules():  # dropout off so both libraries see the same network
        if isinstance(m, nn.Dropout):
            m.eval()
    for step in range(4):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    model.eval()
    with torch.no_grad():
        logits = model(images)
        probs = torch.softmax(logits, dim=1)
    bn = model.features[1]
    return {"losses": losses, "params": _params(model), "probs": probs.numpy(),
            "running_mean": bn.running_mean.numpy(), "running_var": bn.running_var.numpy(),
            "num_batches_tracked": bn.num_batches_tracked.item(),
            "state_keys": list(model.state_dict().keys())}


@program()
def conv_autoencoder(torch, init):
    """Conv2d encoder, ConvTranspose2d decoder, Sigmoid output, BCELoss, AdamW."""
    nn = torch.nn
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
    decoder = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                            nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1), nn.Sigmoid())
    model = init(nn.Sequential(encoder, decoder))

    rng = np.random.default_rng(2)
    x = torch.tensor(rng.random((4, 1, 8, 8)), dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    criterion = nn.BCELoss()
    losses = []
    for _ in range(5):
        recon = model(x)
        loss = criterion(recon, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        code = encoder(x)
        recon = decoder(code)
    return {"losses": losses, "code_shape": list(code.shape), "recon": recon.numpy(),
            "params": _params(model)}
