"""What a program meets when it reaches for a PyTorch name that gpunet does not have.

Every public gpunet package ends with `__getattr__ = missing_attribute(__name__)`. A name gpunet lacks
then raises an AttributeError that says whether PyTorch has it (gpunet does not implement it yet) or not
(a typo, or an API from elsewhere). While gpunet stands in for PyTorch, a missing PyTorch *class* is
instead a stand-in class that fails when instantiated: a program's helper file that subclasses, say,
`nn.CTCLoss` still imports, and only a run that builds one stops, with the API named.
"""
from gpunet import _naming
from gpunet._torch_api import kind_of, snapshot

_stand_ins = {}


class UnsupportedAPIError(NotImplementedError):
    """A PyTorch API that gpunet does not implement was used."""


class UnsupportedAttributeError(AttributeError, UnsupportedAPIError):
    """A module attribute PyTorch has and gpunet lacks: an AttributeError, so `hasattr` answers False
    and feature checks keep working, and a NotImplementedError by what it means."""


def unsupported(api):
    return (f"{api} is part of PyTorch's API but not of gpunet's subset; see gpunet's README "
            "('Supported API') for what is implemented")


def missing_attribute(module_name):
    """The module-level `__getattr__` of the gpunet module `module_name`."""
    torch_module = _naming.torch_spelling(module_name)

    def __getattr__(name):
        shown = f"{_naming.package}{torch_module[len('torch'):]}"
        if name.startswith("__"):  # protocol lookups (__path__, __wrapped__, ...): a plain miss
            raise AttributeError(f"module {shown!r} has no attribute {name!r}")
        kind = kind_of(torch_module, name)
        if kind is None:
            raise AttributeError(f"module {shown!r} has no attribute {name!r}, and neither has "
                                 f"{torch_module!r} in PyTorch {_torch_version()}")
        if kind == "class" and _naming.package == "torch":
            return _stand_in(f"{torch_module}.{name}")
        raise UnsupportedAttributeError(f"module {shown!r} has no attribute {name!r}: "
                                        + unsupported(f"{torch_module}.{name}"))

    return __getattr__


def _stand_in(api):
    if api not in _stand_ins:
        module, _, name = api.rpartition(".")

        def __new__(cls, *args, **kwargs):
            used = "" if cls.__qualname__ == name else f" (subclassed by {cls.__qualname__})"
            raise UnsupportedAPIError(unsupported(api) + used)

        _stand_ins[api] = type(name, (), {"__new__": __new__, "__module__": module,
                                          "__doc__": f"Stand-in: {unsupported(api)}."})
    return _stand_ins[api]


def _torch_version():
    return snapshot().get("_torch_version", "")
