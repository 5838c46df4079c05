"""gpunet.compiler (`torch.compiler`); its `compile` is gpunet.compile (`torch.compile`).

gpunet runs every op eagerly and has no graph compiler, so compiling returns the model or function
unchanged and the questions model code asks (`torch.compiler.is_compiling()`) answer False. Arguments
are checked as PyTorch checks them, so a call that PyTorch refuses is refused here too.
"""
from gpunet._missing import missing_attribute as _missing_attribute
_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, name=None,
             disable=False, recompile_limit=None, isolate_recompiles=False, shapes_spec=None):
    """`torch.compile`: returns `model` itself (gpunet runs eagerly); without a model, a decorator that
    does the same, so `@torch.compile` and `@torch.compile(mode=...)` both work."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same "
                           "time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if model is None:
        return _identity
    return _identity(model)


def _identity(model):
    if not callable(model):
        raise TypeError(f"compile: a callable function is expected, but {type(model)} is provided.")
    return model


def is_compiling():
    """False: gpunet never traces or compiles code."""
    return False


def is_dynamo_compiling():
    return False


def is_exporting():
    return False


def disable(fn=None, recursive=True, *, reason=None):
    """Returns fn unchanged (there is no compilation to keep it out of); usable as a decorator."""
    return _identity if fn is None else fn


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def reset():
    """Nothing to reset: gpunet keeps no compilation caches."""


def cudagraph_mark_step_begin():
    """Nothing to mark: gpunet records no CUDA graphs."""

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
