"""gpunet standing in for PyTorch: after `as_torch()`, `import torch` and `import torch.nn.functional as F`
give gpunet's modules, so an unmodified PyTorch program runs on gpunet. `python -m gpunet.run script.py`
calls it before running the script.

An import finder placed first on `sys.meta_path` answers for `torch` and every `torch.<sub>`: the module is
`gpunet.<sub>` itself (one object under both names, so `torch.nn is gpunet.nn`). A torch submodule gpunet
lacks fails at import with a ModuleNotFoundError naming it; missing attributes are answered by each
module's `__getattr__` (gpunet._missing).
"""
import importlib
import importlib.abc
import importlib.util
import sys

from gpunet import _naming
from gpunet._missing import unsupported
from gpunet._torch_api import kind_of


class _TorchFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torch" and not name.startswith("torch."):
            return None
        gpunet_name = "gpunet" + name[len("torch"):]
        try:
            found = importlib.util.find_spec(gpunet_name)
        except ModuleNotFoundError:  # a parent is a plain module, not a package
            found = None
        if found is None:
            parent, _, leaf = name.rpartition(".")
            why = (unsupported(name) if kind_of(parent, leaf) == "module"
                   else f"PyTorch {parent!r} has no submodule {leaf!r} in the API gpunet knows either")
            raise ModuleNotFoundError(f"No module named {name!r} (gpunet stands in for torch): {why}",
                                      name=name)
        return importlib.util.spec_from_loader(name, _AliasLoader(gpunet_name))


class _AliasLoader(importlib.abc.Loader):
    """Loads `torch.<sub>` as the module object `gpunet.<sub>`: the import system returns whatever
    sys.modules holds under the name once exec_module is done."""

    def __init__(self, gpunet_name):
        self.gpunet_name = gpunet_name

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(self.gpunet_name)


_finder = _TorchFinder()


def as_torch():
    """Make `import torch` (and its submodules) import gpunet, for running unmodified PyTorch programs.

    Call it before the program imports torch; reprs then print `torch.float32`, `torch.Size([...])`.
    Only this process is affected (a DataLoader worker started with the 'spawn' method re-imports the
    program without it; the default 'fork' on Linux keeps it). Returns the gpunet module.
    """
    loaded = sys.modules.get("torch")
    if loaded is not None and not _is_alias(loaded):
        raise RuntimeError("gpunet.as_torch(): the real torch is already imported in this process; "
                           "call as_torch() before any `import torch`")
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    _naming.package = "torch"
    return importlib.import_module("gpunet")


def undo_as_torch():
    """Remove the stand-in: `import torch` then finds the real PyTorch again (if installed)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        if _is_alias(sys.modules[name]):
            del sys.modules[name]
    _naming.package = "gpunet"


def _is_alias(module):
    return getattr(module, "__name__", "").split(".")[0] == "gpunet"
