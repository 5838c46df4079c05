"""weights_only loading: the allowlist of globals, the user's additions to it, and the unpickler that
enforces it.

A pickle runs code by naming a global (a class or function, looked up by module and name) and calling
it, or by setting an object's state (which may call the object's __setstate__). The weights-only
unpickler resolves only the globals listed here (gpunet's dtype, device and Size, OrderedDict, Counter,
set, complex, bytes and bytearray; the Parameter rebuild) plus those the user allowlisted with
add_safe_globals / safe_globals, and sets the state only of OrderedDicts, Parameters and instances of
allowlisted classes. Tensors never appear as globals: they are records of the checkpoint, handed to the
unpickler by persistent id. This is the set torch.load(weights_only=True) accepts for state dicts.

It is the pure-Python unpickler of the standard library (`pickle._Unpickler`) with its BUILD opcode
replaced: the C unpickler offers find_class but no way to restrict BUILD, and a BUILD on a shared
object (a dtype, the cpu device) would change it for the whole process.
"""

import _compat_pickle
import codecs
import pickle
from collections import Counter, OrderedDict

from gpunet.backend import Device
from gpunet.dtypes import _by_name
from gpunet.nn.parameter import Parameter, _rebuild_parameter
from gpunet.tensor import Size

__all__ = ["add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

_user_globals = set()  # what add_safe_globals added: globals, or (global, "module.qualname") pairs


def add_safe_globals(safe_globals):
    """Allow these globals (classes or functions, or (global, "module.qualname") pairs naming them as the
    checkpoint does) in weights_only loads: their code will run while loading. Only for trusted code."""
    global _user_globals
    _user_globals = _user_globals | {_checked(g) for g in safe_globals}


def get_safe_globals():
    """The list of globals add_safe_globals (or an active safe_globals context) has allowed."""
    return list(_user_globals)


def clear_safe_globals():
    """Remove every global added by add_safe_globals."""
    global _user_globals
    _user_globals = set()


class safe_globals:
    """`with safe_globals([MyClass]): gpunet.load(f)`: the globals are allowed inside the block and
    removed from the allowlist when it ends (even if they had been added before)."""

    def __init__(self, safe_globals):
        self.safe_globals = list(safe_globals)

    def __enter__(self):
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        global _user_globals
        _user_globals = _user_globals - set(self.safe_globals)


def _checked(g):
    if isinstance(g, tuple):
        if len(g) != 2 or not isinstance(g[1], str):
            raise TypeError(
                f"add_safe_globals: expected a global or a (global, 'module.qualname') pair, got {g!r}"
            )
    elif not callable(g):
        raise TypeError(f"add_safe_globals: expected a class or function, got {type(g).__name__} {g!r}")
    return g


def _user_allowed():
    """{'module.qualname': global} of the user's additions."""
    out = {}
    for g in _user_globals:
        if isinstance(g, tuple):
            out[g[1]] = g[0]
        else:
            out[f"{g.__module__}.{g.__qualname__}"] = g
    return out


# ---- the default allowlist (the callables a pickle may call, wrapped where an argument could do harm) ----
def _encode(obj, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles of bytes use it: text to latin-1 bytes, nothing else."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("weights-only load: _codecs.encode is allowed for latin1 bytes only")
    return codecs.encode(obj, "latin1")


def _no_size(kind):
    def build(*args):
        if args and isinstance(args[0], int):  # bytes(n) / bytearray(n) would allocate n zero bytes
            raise pickle.UnpicklingError(f"weights-only load: {kind}(int) is not allowed")
        return (bytes if kind == "bytes" else bytearray)(*args)

    return build


_DEFAULT = {
    "collections.OrderedDict": OrderedDict,
    "collections.Counter": Counter,
    "builtins.set": set,
    "builtins.complex": complex,
    "builtins.bytes": _no_size("bytes"),
    "builtins.bytearray": _no_size("bytearray"),
    "_codecs.encode": _encode,
    "gpunet.dtypes._by_name": _by_name,
    "gpunet.backend.Device": Device,
    "gpunet.tensor.Size": Size,
    "gpunet.nn.parameter._rebuild_parameter": _rebuild_parameter,
}

_DESCRIPTION = (
    "tensors, Parameters, gpunet dtypes and devices, Size, OrderedDict, Counter and builtin "
    "containers and scalars"
)


class WeightsOnlyUnpickler(pickle._Unpickler):
    """Unpickles only what the allowlist names; `persistent_load(pid)` supplies the checkpoint's tensors."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, persistent_load, source):
        super().__init__(file)
        self.persistent_load = persistent_load
        self.source = source  # the file's name, for errors
        user = _user_allowed()
        self.allowed = {**_DEFAULT, **user}
        self.user_classes = {g for g in user.values() if isinstance(g, type)}

    def find_class(self, module, name):
        if self.proto < 3:  # protocol 2 pickles name Python 2's modules (__builtin__.set)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = self.allowed.get(f"{module}.{name}")
        if found is None:
            raise pickle.UnpicklingError(_refusal(self.source, module, name))
        return found

    def load_build(self):
        state = self.stack[-1]
        inst = self.stack[-2]
        cls = type(inst)
        if cls in self.user_classes:  # the user trusts this class: its __setstate__ may run
            return pickle._Unpickler.load_build(self)
        if cls in (OrderedDict, Counter, Parameter) and type(state) is dict and all(
            type(k) is str for k in state
        ):  # a state_dict's _metadata; a Parameter's extra attributes
            self.stack.pop()
            inst.__dict__.update(state)
            return None
        raise pickle.UnpicklingError(
            f"gpunet.load: {self.source}: weights-only load refused to set the state of a "
            f"{cls.__module__}.{cls.__qualname__} object; only the state of OrderedDicts, Parameters and "
            "classes allowlisted with gpunet.serialization.add_safe_globals can be set"
        )

    dispatch[pickle.BUILD[0]] = load_build


def _refusal(source, module, name):
    return (
        f"gpunet.load: {source}: weights-only load refused the global {module}.{name}: the file asks to "
        f"call or build it, and weights_only=True (the default) allows only {_DESCRIPTION}, so that "
        "loading never runs code from the file. If you trust the source of this file, either load it "
        "with weights_only=False, which runs code from the file (never do this for a file you do not "
        f"trust), or allowlist the global: gpunet.serialization.add_safe_globals([{name}]), or the "
        f"context manager gpunet.serialization.safe_globals([{name}])."
    )
