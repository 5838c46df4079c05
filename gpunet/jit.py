"""gpunet.jit (`torch.jit`): gpunet has no TorchScript. Model files decorate helpers with
`@torch.jit.script` and programs trace models only to call them, so `script` and `trace` give back the
function or module unchanged (calls compute the same values, eagerly). What needs a TorchScript program
(saving, loading, freezing ScriptModules, and every other name) is refused, naming the API: an
NotImplementedError, or for a missing attribute an AttributeError that is also one (so `hasattr` works).
`is_scripting()`/`is_tracing()` answer False; `ignore`, `unused`, `export`, `annotate`, `Final` leave code
as it is.
"""
import typing

from gpunet._missing import UnsupportedAttributeError

Final = typing.Final


def _unsupported(name):
    return NotImplementedError(
        f"torch.jit.{name} is not supported by gpunet: gpunet has no TorchScript compiler (it runs every "
        "model eagerly); call the function or module directly instead")


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """The function or module itself: gpunet runs it eagerly (no ScriptModule is made)."""
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    """The function or module itself: gpunet runs it eagerly (no trace is recorded)."""
    return func


def save(m, f, _extra_files=None):
    raise _unsupported("save")


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    raise _unsupported("load")


class ScriptModule:
    """Never made by gpunet (so `isinstance(m, torch.jit.ScriptModule)` is False); constructing one fails."""

    def __init__(self, *args, **kwargs):
        raise _unsupported("ScriptModule")


class ScriptFunction:
    """Never made by gpunet; constructing one fails."""

    def __init__(self, *args, **kwargs):
        raise _unsupported("ScriptFunction")


def is_scripting():
    """False: code never runs under TorchScript in gpunet."""
    return False


def is_tracing():
    """False: gpunet never traces."""
    return False


def ignore(drop=False, **kwargs):
    """`@torch.jit.ignore` and `@torch.jit.ignore(drop=True)`: the function, unchanged."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def annotate(the_type, the_value):
    return the_value


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(f"module 'gpunet.jit' has no attribute {name!r}")
    raise UnsupportedAttributeError(str(_unsupported(name)))
