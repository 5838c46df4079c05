"""Compiling the per-element maths written once (kernels/_optim_math.py, kernels/_pool_math.py) for a backend.

A maths module holds plain scalar Python functions. ``compile_functions(module, jit)`` returns a module
object holding a copy of each one compiled with ``jit``: ``njit(inline="always")`` for kernels.cpu,
``cuda.jit(device=True, inline="always")`` for kernels.cuda (Numba inlines them into the calling loop or
kernel at the IR level, so the loop compiles as if the maths were written in it). The copies share one
globals dict in which every function of the module is its compiled copy, so the maths functions can call
each other on either backend; a kernel calls them as attributes of the returned module.

Numba's on-disk cache (``cache=True``) checks only the kernel's own source file: a kernel inlining maths
from another file would keep its stale machine code after the maths changed. ``cached_as(fn, *modules)``
gives a kernel a name (``__qualname__``, which names its cache file) carrying a digest of those files.
"""
import hashlib
import types


def compile_functions(module, jit):
    """A module holding every function defined in `module`, each compiled with `jit`."""
    compiled = types.ModuleType(module.__name__, module.__doc__)
    namespace = compiled.__dict__
    namespace.update({k: v for k, v in vars(module).items() if not k.startswith("__")},
                     __builtins__=vars(module)["__builtins__"])
    for name, fn in vars(module).items():
        if isinstance(fn, types.FunctionType) and fn.__module__ == module.__name__:
            copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
            copy.__qualname__, copy.__doc__, copy.__module__ = fn.__qualname__, fn.__doc__, fn.__module__
            namespace[name] = jit(copy)
    return compiled


def source_digest(*modules):
    """Eight hex digits that change whenever one of the modules' source files does."""
    h = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:8]


def cached_as(fn, *modules):
    """A copy of fn named ``<qualname>__<digest of the modules' sources>``: its Numba cache entries then
    belong to the current version of the maths it inlines from those modules."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = f"{fn.__qualname__}__{source_digest(*modules)}"
    copy.__doc__, copy.__module__ = fn.__doc__, fn.__module__
    return copy
