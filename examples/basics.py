"""The basics: linear regression, custom autograd Functions, and a comparison of optimizers and schedulers.

    python examples/basics.py [--epochs 3] [--steps 300] [--device cuda] [--plot basics.png]

1. Linear regression: recover w = [2, -3.4], b = 4.2 from 1,000 noisy samples with nn.Linear, nn.MSELoss
   and optim.SGD over mini-batches of 10 from a DataLoader (--epochs passes over the data).
2. Custom autograd Functions, written as in PyTorch's "Extending torch.autograd" tutorial: Exp (saves
   its output), MyReLU (saves its input) and LinearFunction (computes only the gradients
   ctx.needs_input_grad asks for). Their gradients are checked against finite differences
   (torch.autograd.gradcheck, float64) and against the built-in ops, then they train a small network
   for Poisson regression: counts ~ Poisson(exp(f(x))).
3. One problem (a 64-64-10 MLP on the 8x8 digits), the same initial weights and the same batches,
   trained with SGD, SGD with momentum, RMSprop, Adagrad and Adam; then SGD with momentum under
   different learning-rate schedules (constant, StepLR, CosineAnnealingLR, OneCycleLR, warm-up then
   cosine with SequentialLR). --plot draws the loss curves and the learning rates.
"""
import math
import os
import sys

import numpy as np

import gpunet as torch
import gpunet.nn as nn
import gpunet.nn.functional as F
from gpunet.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RunningMean, Timer, make_parser, print_metrics, progress, pyplot, save_figure


# ---------------------------------------------------------------------------------------------- 1.
def linear_regression(device, args):
    true_w, true_b = torch.tensor([2.0, -3.4]), 4.2
    x = torch.randn(1000, 2)
    y = (x @ true_w + true_b + 0.01 * torch.randn(1000)).unsqueeze(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True)
    model = nn.Linear(2, 1).to(device)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    losses = []
    for epoch in range(args.epochs):
        bar, running = progress(loader, f"linear regression, epoch {epoch + 1}", args), RunningMean()
        for xb, yb in bar:
            loss = criterion(model(xb.to(device)), yb.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{running.update(losses[-1]):.5f}")
    w, b = model.weight.detach().cpu().view(-1), model.bias.item()
    w_error = (w - true_w).abs().max().item()
    print(f"1. linear regression: w = {w.tolist()} (true [2, -3.4]), b = {b:.4f} (true 4.2), "
          f"final loss {losses[-1]:.2e}")
    return {"linreg_first_loss": losses[0], "linreg_final_loss": losses[-1], "linreg_w_error": w_error,
            "linreg_b_error": abs(b - true_b)}


# ---------------------------------------------------------------------------------------------- 2.
class Exp(torch.autograd.Function):
    """exp(x); backward reuses the saved output: d exp(x)/dx = exp(x)."""

    @staticmethod
    def forward(ctx, x):
        result = x.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


class MyReLU(torch.autograd.Function):
    """max(x, 0); the gradient passes where the input was positive."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)


class LinearFunction(torch.autograd.Function):
    """input @ weight.T + bias; computes only the gradients that are needed (ctx.needs_input_grad)."""

    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input @ weight.T
        if bias is not None:
            output = output + bias
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output @ weight
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.T @ input
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MyLinear(nn.Module):
    """nn.Linear, but through LinearFunction."""

    def __init__(self, in_features, out_features):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x):
        return LinearFunction.apply(x, self.weight, self.bias)


def check_custom_functions(device):
    """Largest difference between each custom Function's gradients and the built-in op's; runs gradcheck."""
    x = torch.randn(5, 4, dtype=torch.float64, device=device, requires_grad=True)
    w = torch.randn(3, 4, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, device=device, requires_grad=True)
    cases = {"Exp": (Exp.apply, torch.exp, (x,)),
             "MyReLU": (MyReLU.apply, F.relu, (x,)),
             "LinearFunction": (LinearFunction.apply, F.linear, (x, w, b))}
    diffs = {}
    for name, (custom, builtin, inputs) in cases.items():
        assert torch.autograd.gradcheck(custom, inputs), name  # finite differences
        grad_output = torch.randn_like(custom(*inputs))
        ours = torch.autograd.grad(custom(*inputs), inputs, grad_output)
        reference = torch.autograd.grad(builtin(*inputs), inputs, grad_output)
        diffs[name] = max((a - r).abs().max().item() for a, r in zip(ours, reference))
    # needs_input_grad: with a frozen weight, LinearFunction returns no weight gradient at all.
    frozen_w = w.detach()
    LinearFunction.apply(x, frozen_w, b).sum().backward()
    assert frozen_w.grad is None and x.grad is not None
    return diffs


def poisson_regression(device, args):
    """A network of custom Functions fits log-rates: counts ~ Poisson(exp(f(x))), f an MLP."""
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-2, 2, size=(512, 1)).astype(np.float32)
    true_rate = np.exp(1 + np.sin(2 * x))
    counts = rng.poisson(true_rate).astype(np.float32)
    x, counts = torch.from_numpy(x).to(device), torch.from_numpy(counts).to(device)
    layer1, layer2 = MyLinear(1, 32).to(device), MyLinear(32, 1).to(device)
    optimizer = torch.optim.Adam(list(layer1.parameters()) + list(layer2.parameters()), lr=0.02)
    losses = []
    steps = 30 if args.fast else 300
    bar, running = progress(range(steps), "custom Functions", args), RunningMean()
    for _ in bar:
        log_rate = layer2(MyReLU.apply(layer1(x)))
        loss = (Exp.apply(log_rate) - counts * log_rate).mean()  # Poisson negative log-likelihood (+ const)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{running.update(losses[-1]):.4f}")
    with torch.no_grad():
        rate = Exp.apply(layer2(MyReLU.apply(layer1(x)))).cpu().numpy()
    rate_error = float(np.abs(rate - true_rate).mean() / true_rate.mean())
    return {"poisson_first_loss": losses[0], "poisson_final_loss": losses[-1],
            "poisson_rate_rel_error": rate_error}


# ---------------------------------------------------------------------------------------------- 3.
def digits_problem(args):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = torch.from_numpy((digits.data / 16.0).astype(np.float32))
    y = torch.from_numpy(digits.target.astype(np.int64))
    generator = torch.Generator().manual_seed(args.seed)
    batches = [torch.randint(0, len(y), (64,), generator=generator) for _ in range(args.steps)]
    torch.manual_seed(args.seed)
    initial = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).state_dict()
    return x, y, batches, initial


def train_curve(problem, make_optimizer, make_scheduler, device, desc, args):
    """Loss and lr per step of the digits MLP from the shared initial weights, over the shared batches."""
    x, y, batches, initial = problem
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model.load_state_dict(initial)
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = make_optimizer(model.parameters())
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    losses, lrs = [], []
    bar, running = progress(batches, desc, args), RunningMean()
    for idx in bar:
        idx = idx.to(device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{running.update(losses[-1]):.4f}")
    return losses, lrs


def smooth(values, window=10):
    return np.convolve(values, np.ones(window) / window, mode="valid") if len(values) >= window else values


def compare(device, args):
    problem = digits_problem(args)
    optim, sched = torch.optim, torch.optim.lr_scheduler
    steps = args.steps
    optimizers = {
        "SGD (lr 0.1)": lambda p: optim.SGD(p, lr=0.1),
        "SGD momentum 0.9 (lr 0.05)": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
        "RMSprop (lr 1e-3)": lambda p: optim.RMSprop(p, lr=1e-3),
        "Adagrad (lr 0.05)": lambda p: optim.Adagrad(p, lr=0.05),
        "Adam (lr 1e-3)": lambda p: optim.Adam(p, lr=1e-3),
    }
    schedulers = {
        "constant": None,
        "StepLR": lambda o: sched.StepLR(o, step_size=max(1, steps // 3), gamma=0.3),
        "CosineAnnealingLR": lambda o: sched.CosineAnnealingLR(o, T_max=steps),
        "OneCycleLR": lambda o: sched.OneCycleLR(o, max_lr=0.2, total_steps=steps),
        "warm-up + cosine": lambda o: sched.SequentialLR(o, [
            sched.LinearLR(o, start_factor=0.1, total_iters=max(1, steps // 10)),
            sched.CosineAnnealingLR(o, T_max=steps - max(1, steps // 10))], milestones=[max(1, steps // 10)]),
    }
    results = {"optimizers": {}, "schedulers": {}}
    for name, make in optimizers.items():
        results["optimizers"][name] = train_curve(problem, make, None, device, name, args)
    sgd_momentum = optimizers["SGD momentum 0.9 (lr 0.05)"]
    for name, make in schedulers.items():
        results["schedulers"][name] = train_curve(problem, sgd_momentum, make, device, name, args)
    tail = max(1, steps // 10)
    print(f"3. final training loss (mean of the last {tail} steps of {steps}):")
    finals = {}
    for kind, runs in results.items():
        for name, (losses, _) in runs.items():
            finals[f"{kind}/{name}"] = float(np.mean(losses[-tail:]))
            print(f"   {kind[:-1]:9s} {name:28s} {finals[f'{kind}/{name}']:.4f}")
    return results, finals


def plot(results, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    for name, (losses, _) in results["optimizers"].items():
        axes[0].plot(smooth(losses), label=name)
    for name, (losses, lrs) in results["schedulers"].items():
        axes[1].plot(smooth(losses), label=name)
        axes[2].plot(lrs, label=name)
    axes[0].set(title="optimizers", xlabel="step", ylabel="training loss (smoothed)", yscale="log")
    axes[1].set(title="lr schedules (SGD, momentum 0.9)", xlabel="step", ylabel="training loss (smoothed)",
                yscale="log")
    axes[2].set(title="learning rate", xlabel="step", ylabel="lr")
    for ax in axes:
        ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None):
    parser = make_parser(__doc__, epochs=3, fast_epochs=1)
    parser.add_argument("--steps", type=int, default=300, help="steps per optimizer/scheduler run")
    args = parser.parse_args(argv)
    if args.fast:
        args.steps = min(args.steps, 30)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    metrics = {}
    with Timer() as timer:
        metrics.update(linear_regression(device, args))
        diffs = check_custom_functions(device)
        print("2. custom Functions: gradcheck passed; largest difference from the built-in op's gradient: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
        metrics.update({f"grad_diff_{k}": v for k, v in diffs.items()})
        metrics.update(poisson_regression(device, args))
        print(f"   Poisson regression with them: loss {metrics['poisson_first_loss']:.3f} -> "
              f"{metrics['poisson_final_loss']:.3f}, mean rate error {metrics['poisson_rate_rel_error']:.1%}")
        results, finals = compare(device, args)
    metrics.update({f"final_loss/{k}": v for k, v in finals.items()})
    metrics["lr_curves"] = {name: lrs for name, (_, lrs) in results["schedulers"].items()}
    metrics["seconds"] = timer.seconds
    if args.plot:
        plot(results, args.plot)
    print_metrics("basics", {k: v for k, v in metrics.items()
                             if not k.startswith(("final_loss/", "lr_curves"))})
    return metrics


if __name__ == "__main__":
    main()
