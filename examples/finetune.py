"""Fine-tuning a pretrained LeNet-5: frozen features, per-layer learning rates, a head added mid-training.

    python examples/finetune.py [--checkpoint runs/lenet_digits.pt] [--epochs 6] [--plot finetune.png]

Starts from the checkpoint written by lenet_digits.py (trains one first if it is missing) and learns a
new task on the same images: the digit labels relabelled by a fixed permutation, so the old output
layer is useless and is replaced. The recipe:

1. freeze the feature extractor (requires_grad=False): it never changes and gets no gradients;
2. epochs 1-2: "linear probe", train the new output layer alone, with an optimizer over
   filter(lambda p: p.requires_grad, model.parameters()); before epoch 2 its lr is halved by
   editing optimizer.param_groups directly;
3. from epoch 3: unfreeze the classifier and give each of its layers its own learning rate (one
   param group per layer), decayed by StepLR; halfway, a second head (odd/even digit) is added
   with optimizer.add_param_group, and the scheduler decays it with the others.
The lr of every param group is printed each epoch; at the end the script checks that the frozen
weights equal the checkpoint's.
"""
import os
import sys

import gpunet as torch
import gpunet.nn as nn
import gpunet.nn.functional as F
from gpunet.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lenet_digits
from _common import RunningMean, Timer, load_digits, make_parser, print_metrics, progress, pyplot, save_figure

PROBE_LR = 0.05             # epochs 1-2: the new output layer alone (halved by hand for epoch 2)
FINETUNE_EPOCH = 3          # from here on the whole classifier trains, one lr per layer:
LAYER_LRS = (0.005, 0.01)   # classifier[0], classifier[2]
OUTPUT_LR = 0.02            # the output layer (the optimizer's default lr)
PARITY_LR = 0.05            # the odd/even head, added halfway through fine-tuning
STEP_SIZE, GAMMA = 2, 0.5   # StepLR, stepped once per epoch from FINETUNE_EPOCH


def penultimate(model, x):
    """The 84 features that feed LeNet's output layer (classifier[:-1] applied to the flattened conv maps)."""
    return model.classifier[:-1](torch.flatten(model.features(x), 1))


def evaluate(model, parity_head, loader, device):
    model.eval()
    correct = correct_parity = total = 0
    with torch.no_grad():
        for x, y, parity in loader:
            x, y, parity = x.to(device), y.to(device), parity.to(device)
            h = penultimate(model, x)
            correct += (model.classifier[-1](h).argmax(1) == y).sum().item()
            if parity_head is not None:
                correct_parity += (parity_head(h).argmax(1) == parity).sum().item()
            total += y.numel()
    return correct / total, (correct_parity / total if parity_head is not None else None)


def main(argv=None):
    parser = make_parser(__doc__, epochs=7, fast_epochs=4)
    parser.add_argument("--checkpoint", default=lenet_digits.DEFAULT_CHECKPOINT,
                        help="pretrained LeNet from lenet_digits.py (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    if not os.path.exists(args.checkpoint):
        print(f"no checkpoint at {args.checkpoint}: training LeNet-5 first")
        pre_argv = ["--checkpoint", args.checkpoint, "--seed", str(args.seed), "--device", args.device]
        lenet_digits.main(pre_argv + ["--fast"] * args.fast + ["--quiet"] * args.quiet)
    checkpoint = torch.load(args.checkpoint, map_location=device)
    activation = lenet_digits.ACTIVATIONS[checkpoint.get("activation", "tanh")]
    model = lenet_digits.LeNet5(activation=activation).to(device)
    model.load_state_dict(checkpoint["model"])

    # The new task: same images, labels relabelled by a fixed permutation; plus odd/even for the second head.
    x_train, y_train, x_test, y_test = load_digits(size=32, seed=args.seed)
    if args.fast:
        x_train, y_train, x_test, y_test = x_train[:96], y_train[:96], x_test[:64], y_test[:64]
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(1234))
    train_set = TensorDataset(x_train, permutation[y_train], y_train % 2)
    test_set = TensorDataset(x_test, permutation[y_test], y_test % 2)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)

    # 1. Freeze the feature extractor; replace the output layer (a fresh Linear requires grad).
    for p in model.features.parameters():
        p.requires_grad = False
    model.classifier[:-1].requires_grad_(False)  # only during the linear probe (epochs 1-2)
    model.classifier[-1] = nn.Linear(84, 10).to(device)

    # 2. Linear probe: optimize whatever still requires grad, i.e. the new output layer.
    trainable = filter(lambda p: p.requires_grad, model.parameters())
    optimizer = torch.optim.SGD(trainable, lr=PROBE_LR, momentum=0.9)
    scheduler = parity_head = None
    add_head_epoch = FINETUNE_EPOCH + max(1, (args.epochs - FINETUNE_EPOCH + 1) // 2)

    lr_history, loss_history, accuracy_history = [], [], []
    with Timer() as timer:
        for epoch in range(1, args.epochs + 1):
            if epoch == 2:
                # Decaying by hand: param_groups are plain dicts, read by every step().
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
            if epoch == FINETUNE_EPOCH:
                # 3. Fine-tune the whole classifier, one learning rate per layer (discriminative lrs).
                model.classifier.requires_grad_(True)
                optimizer = torch.optim.SGD([
                    {"params": model.classifier[0].parameters(), "lr": LAYER_LRS[0]},
                    {"params": model.classifier[2].parameters(), "lr": LAYER_LRS[1]},
                    {"params": model.classifier[4].parameters()},  # no "lr": the default below applies
                ], lr=OUTPUT_LR, momentum=0.9)
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=STEP_SIZE, gamma=GAMMA)
            if epoch == add_head_epoch:
                # A new head joins mid-training: its own param group, decayed by the same scheduler from now.
                parity_head = nn.Linear(84, 2).to(device)
                optimizer.add_param_group({"params": parity_head.parameters(), "lr": PARITY_LR})

            lrs = [group["lr"] for group in optimizer.param_groups]
            lr_history.append(lrs)
            model.train()
            model.features.eval()  # frozen: also keep any dropout/batch-norm layers in eval mode
            running, total, n = RunningMean(), 0.0, 0
            bar = progress(train_loader, f"epoch {epoch}/{args.epochs}", args)
            for x, y, parity in bar:
                x, y, parity = x.to(device), y.to(device), parity.to(device)
                h = penultimate(model, x)
                loss = F.cross_entropy(model.classifier[-1](h), y)
                if parity_head is not None:
                    loss = loss + F.cross_entropy(parity_head(h), parity)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                value = loss.item()
                total, n = total + value * len(y), n + len(y)
                bar.set_postfix(loss=f"{running.update(value):.4f}")
            if scheduler is not None:
                scheduler.step()
            accuracy, parity_accuracy = evaluate(model, parity_head, test_loader, device)
            loss_history.append(total / n)
            accuracy_history.append(accuracy)
            extra = f"  odd/even accuracy {parity_accuracy:.2%}" if parity_accuracy is not None else ""
            print(f"epoch {epoch}  lr per group {[f'{lr:.4g}' for lr in lrs]}  loss {total / n:.4f}  "
                  f"test accuracy {accuracy:.2%}{extra}")

    state = model.state_dict()
    frozen = [k for k in state if k.startswith("features.")]
    frozen_unchanged = all(torch.equal(state[k], checkpoint["model"][k]) for k in frozen)
    frozen_without_grad = all(p.grad is None for p in model.features.parameters())
    key = "classifier.0.weight"
    classifier_changed = not torch.equal(state[key], checkpoint["model"][key])
    print(f"frozen feature weights identical to the checkpoint: {frozen_unchanged}; "
          f"no gradient ever computed for them: {frozen_without_grad}")

    if args.plot:
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
        epochs = range(1, args.epochs + 1)
        history = list(zip(epochs, lr_history))
        series = {"output layer (probe)": [(e, lrs[0]) for e, lrs in history if e < FINETUNE_EPOCH]}
        for g, name in enumerate(["classifier[0]", "classifier[2]", "output layer", "odd/even head"]):
            series[name] = [(e, lrs[g]) for e, lrs in history if e >= FINETUNE_EPOCH and len(lrs) > g]
        for name, points in series.items():
            if points:
                ax1.plot(*zip(*points), marker="o", drawstyle="steps-post", label=name)
        ax1.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="lr of each param group")
        ax1.legend(fontsize=8)
        ax2.plot(epochs, loss_history, marker="o")
        ax2.set(xlabel="epoch", ylabel="training loss", title="fine-tuning")
        save_figure(fig, args.plot)

    metrics = {"test_accuracy": accuracy_history[-1], "parity_accuracy": parity_accuracy,
               "first_train_loss": loss_history[0], "train_loss": loss_history[-1], "lr_history": lr_history,
               "add_head_epoch": add_head_epoch, "frozen_unchanged": frozen_unchanged,
               "frozen_without_grad": frozen_without_grad, "classifier_changed": classifier_changed,
               "epochs": args.epochs, "seconds": timer.seconds}
    print_metrics("finetune", {k: v for k, v in metrics.items() if k != "lr_history"})
    return metrics


if __name__ == "__main__":
    main()
