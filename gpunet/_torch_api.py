"""Which public names PyTorch has, so that a name gpunet lacks gets an error saying what it is.

``_torch_api.json`` beside this file is a snapshot of PyTorch 2.13's public names in the modules programs
use most: ``{"torch.nn": {"Linear": "class", "functional": "module", ...}, ...}``. gpunet needs no PyTorch
to read it. Take a new one with ``python -m gpunet._torch_api`` (PyTorch installed);
tests/gpunet/test_torch_api.py compares it with the installed PyTorch when there is one.
"""
import functools
import importlib
import inspect
import json
import os
import pkgutil

PATH = os.path.join(os.path.dirname(__file__), "_torch_api.json")

MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.optim",
           "torch.optim.lr_scheduler", "torch.utils", "torch.utils.data", "torch.autograd", "torch.cuda",
           "torch.distributions", "torch.backends", "torch.linalg", "torch.fft", "torch.special", "torch.amp")


def kind(obj):
    if inspect.ismodule(obj):
        return "module"
    if isinstance(obj, type):
        return "class"
    return "function" if callable(obj) else "value"


def take_snapshot():
    snapshot = {}
    for name in MODULES:
        module = importlib.import_module(name)
        names = {attr: kind(getattr(module, attr)) for attr in dir(module)
                 if not attr.startswith("_") and hasattr(module, attr)}
        # submodules not imported by their package (torch.onnx, torch.utils.tensorboard) are PyTorch API too
        for sub in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if not sub.name.startswith("_"):
                names.setdefault(sub.name, "module")
        snapshot[name] = dict(sorted(names.items()))
    return snapshot


@functools.cache
def snapshot():
    with open(PATH) as f:
        return json.load(f)


def kind_of(module, name):
    """The kind PyTorch gives `module.name` ("class", "function", "module", "value"), or None: no such
    name in the snapshot. `module` is the PyTorch spelling ("torch.nn")."""
    return snapshot().get(module, {}).get(name)


if __name__ == "__main__":
    import torch

    taken = take_snapshot()
    taken["_torch_version"] = torch.__version__
    with open(PATH, "w") as f:
        json.dump(taken, f, indent=0, sort_keys=True)
        f.write("\n")
    count = sum(len(names) for module, names in taken.items() if module in MODULES)
    print(f"{PATH}: {count} names from torch {torch.__version__}")
