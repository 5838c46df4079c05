"""User-defined building blocks: a Module with containers, buffers and hooks; a custom autograd.Function."""
import numpy as np

from ._harness import program


@program(dtype="float64")
def custom_module(torch, init):
    """ModuleList / ModuleDict / ParameterList / register_buffer, forward and pre-forward hooks, apply()."""
    nn = torch.nn

    class MultiHead(nn.Module):
        def __init__(self, d_in, d_hidden, heads):
            super().__init__()
            self.trunk = nn.ModuleList([nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, d_hidden)])
            self.heads = nn.ModuleDict({name: nn.Linear(d_hidden, n) for name, n in heads.items()})
            self.scales = nn.ParameterList([nn.Parameter(torch.ones(d_hidden)) for _ in self.trunk])
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))
            self.register_buffer("scratch", torch.zeros(3), persistent=False)

        def forward(self, x):
            self.calls += 1
            for layer, scale in zip(self.trunk, self.scales):
                x = torch.relu(layer(x)) * scale
            return {name: head(x) for name, head in self.heads.items()}

    torch.set_default_dtype(torch.float64)
    try:
        model = MultiHead(4, 6, {"cls": 3, "reg": 1})
        model.apply(lambda m: nn.init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
        zero_bias = all(bool((m.bias == 0).all()) for m in model.modules() if isinstance(m, nn.Linear))
        init(model)
    finally:
        torch.set_default_dtype(torch.float32)

    seen = []
    handles = [
        model.trunk[0].register_forward_hook(lambda m, inp, out: seen.append(out.detach().sum().item())),
        model.heads["reg"].register_forward_pre_hook(lambda m, args: (args[0] * 0.5,)),
    ]
    rng = np.random.default_rng(6)
    x = torch.tensor(rng.standard_normal((8, 4)))
    y_cls = torch.tensor(rng.integers(0, 3, 8))
    y_reg = torch.tensor(rng.standard_normal((8, 1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(3):
        out = model(x)
        loss = nn.functional.cross_entropy(out["cls"], y_cls) + nn.functional.mse_loss(out["reg"], y_reg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for h in handles:
        h.remove()
    with torch.no_grad():
        out = model(x)
    return {"losses": losses, "hook_sums": seen, "zero_bias": zero_bias, "calls": model.calls.item(),
            "state_keys": list(model.state_dict()), "n_params": sum(p.numel() for p in model.parameters()),
            "children": [name for name, _ in model.named_children()],
            "modules": [type(m).__name__ for m in model.modules()],
            "reg": out["reg"].numpy(), "scales": [s.detach().numpy() for s in model.scales]}


@program(dtype="float64")
def custom_function(torch, init):
    """A custom autograd.Function (straight-through clamp and a fused 'swish') used inside a model."""
    nn = torch.nn

    class Swish(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, beta):
            s = torch.sigmoid(beta * x)
            ctx.save_for_backward(x, s)
            ctx.beta = beta
            return x * s

        @staticmethod
        def backward(ctx, grad_output):
            x, s = ctx.saved_tensors
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_x = grad_output * (s + ctx.beta * x * s * (1 - s))
            return grad_x, None

    class StraightThroughClamp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp(-1.0, 1.0)

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 8)
            self.fc2 = nn.Linear(8, 1)

        def forward(self, x):
            h = Swish.apply(self.fc1(x), 1.5)
            return StraightThroughClamp.apply(self.fc2(h))

    model = init(Net().double())
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal((10, 3)))
    y = torch.tensor(rng.uniform(-1, 1, (10, 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    xg = x.clone().requires_grad_()
    model(xg).sum().backward()
    z = torch.randn(4, dtype=torch.float64, requires_grad=True)
    out = Swish.apply(z, 2.0)
    return {"losses": losses, "x_grad": xg.grad.numpy(), "grad_fn": out.grad_fn is not None,
            "params": {n: p.detach().numpy() for n, p in model.named_parameters()},
            "gradcheck": torch.autograd.gradcheck(lambda t: Swish.apply(t, 2.0), (z,))}
