"""The simulated cuda device, as strict as CuPy: what a real GPU would reject fails here too.

In simulator mode (``GPUNET_CUDA_SIM=1``) the cuda device lives in host memory. Plain NumPy arrays there
would let code pass that a GPU rejects, so a device array is a ``DeviceArray`` (a NumPy array behind the
face of ``cupy.ndarray``) and ``xp`` is ``namespace`` (NumPy behind the face of the ``cupy`` module).
Both refuse:
- names and keywords CuPy does not have (the snapshot in cupy_api.json);
- implicit device-to-host conversion: ``np.asarray(a)``, NumPy functions and ufuncs applied to device
  arrays, host arrays mixed into device arithmetic (CuPy refuses these too), and ``float(a)``,
  ``int(a)``, ``bool(a)``, ``a.item()``, ``a.tolist()``, ``a.get()`` (CuPy allows them, but each one
  stalls the GPU until the value arrives, unseen in the code, so gpunet refuses them): the one way to the
  host is ``asnumpy``, which gpunet.backend.cuda.to_host calls.

``syncs`` counts what would make the host wait for the GPU: each ``asnumpy``, and each op whose output
shape depends on the data (a boolean mask index, ``nonzero``...), which CuPy answers by reading a count
back. Kernel launches unwrap device arrays (kernels.cuda._launch), as a GPU launch takes CuPy's arrays.
"""
import collections
import operator

import numpy as np

from kernels.cuda import cupy_api

_API = cupy_api.load()["namespaces"]

# CuPy functions whose output shape depends on the data: CuPy reads a count back from the device.
_SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract"}

syncs = collections.Counter()  # reason -> count; read and reset by tests


def _refuse(what, instead):
    raise TypeError(f"{what} on a cuda device array: a real GPU refuses this or stalls on it "
                    f"(gpunet's simulated cuda device is as strict); {instead}")


class DeviceArray:
    """A simulated device array: the NumPy array ``_host`` behind the face of ``cupy.ndarray``."""

    __slots__ = ("_host",)
    __array_ufunc__ = None  # NumPy ufuncs and ndarray operators refuse device arrays, as with CuPy
    __hash__ = None

    def __init__(self, host):
        self._host = host

    # implicit conversions to the host
    def __array__(self, dtype=None, copy=None):
        _refuse("np.asarray()/np.array()", "move it with the backend's to_host (xp.asnumpy)")

    def __array_function__(self, func, types, args, kwargs):
        _refuse(f"NumPy function numpy.{func.__name__}", f"call xp.{func.__name__} (cupy) instead")

    def __float__(self):
        _refuse("float()", "keep the value on the device or move it with the backend's to_host")

    def __int__(self):
        _refuse("int()", "keep the value on the device or move it with the backend's to_host")

    def __index__(self):
        _refuse("operator.index()", "move it with the backend's to_host first")

    def __bool__(self):
        _refuse("bool() (an `if` or `and` on a device value)",
                "compute the branch on the device (xp.where) or move the value with the backend's to_host")

    def __complex__(self):
        _refuse("complex()", "move it with the backend's to_host first")

    def __contains__(self, value):
        _refuse("`in`", "compare on the device (xp.any(a == v)) and move the answer with to_host")

    def __format__(self, spec):
        _refuse("format()", "move it with the backend's to_host first")

    def __reduce__(self):
        _refuse("pickling", "move it with the backend's to_host first")

    def item(self):
        _refuse(".item()", "move it with the backend's to_host first")

    def tolist(self):
        _refuse(".tolist()", "move it with the backend's to_host first")

    def get(self, *args, **kwargs):
        _refuse(".get()", "gpunet moves data only through the backend's to_host")

    # what stays on the device
    @property
    def data(self):
        """cupy.ndarray.data is a MemoryPointer: the address of the first element in ``ptr``."""
        return _MemoryPointer(self._host.__array_interface__["data"][0])

    def __repr__(self):
        return f"DeviceArray({self._host!r})"

    def __len__(self):
        return len(self._host)

    def __iter__(self):
        return (_wrap(row) for row in self._host)

    def __copy__(self):
        return DeviceArray(self._host.copy())

    def __deepcopy__(self, memo):
        return DeviceArray(self._host.copy())

    def __getitem__(self, key):
        key = _index(key, self._host.shape)
        if _is_mask(key):
            syncs["boolean mask index"] += 1
        return _wrap(self._host[key])

    def __setitem__(self, key, value):
        self._host[_index(key, self._host.shape)] = value._host if type(value) is DeviceArray else value

    def __getattr__(self, name):
        entry = _API["cupy.ndarray"].get(name)
        if entry is None or name.startswith("_"):
            raise AttributeError(f"cupy.ndarray has no attribute {name!r} (a real GPU array would not have "
                                 "it either; gpunet's simulated cuda device holds code to CuPy's API)")
        value = getattr(self._host, name)
        if entry["kind"] != "function":
            return _wrap(value)
        return _checked(value, f"cupy.ndarray.{name}", entry)


class _MemoryPointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr


def _operand(op, other):
    if type(other) is DeviceArray:
        return other._host
    if isinstance(other, np.ndarray):
        raise TypeError(f"{op}: a cuda device array and a host numpy array ({other.shape}, {other.dtype}) "
                        "cannot be mixed; CuPy refuses it. Move one of them first")
    if not isinstance(other, (int, float, complex, bool, np.generic)):
        return NotImplemented
    return other


def _binary(name, fn):
    def forward(self, other):
        other = _operand(name, other)
        if other is NotImplemented:
            return NotImplemented
        with np.errstate(all="ignore"):
            return _wrap(fn(self._host, other))

    def reflected(self, other):
        other = _operand(name, other)
        if other is NotImplemented:
            return NotImplemented
        with np.errstate(all="ignore"):
            return _wrap(fn(other, self._host))

    def inplace(self, other):
        other = _operand(name, other)
        if other is NotImplemented:
            return NotImplemented
        with np.errstate(all="ignore"):
            fn(self._host, other, out=self._host)
        return self

    return forward, reflected, inplace


def _unary(fn):
    def op(self):
        with np.errstate(all="ignore"):
            return _wrap(fn(self._host))
    return op


for _name, _fn in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                   "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
                   "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
                   "lshift": np.left_shift, "rshift": np.right_shift}.items():
    _f, _r, _i = _binary(f"__{_name}__", _fn)
    setattr(DeviceArray, f"__{_name}__", _f)
    setattr(DeviceArray, f"__r{_name}__", _r)
    if _name != "matmul":  # no @= (NumPy's needs a square right operand; gpunet has no use for it)
        setattr(DeviceArray, f"__i{_name}__", _i)
for _name, _fn in {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
                   "eq": operator.eq, "ne": operator.ne}.items():
    setattr(DeviceArray, f"__{_name}__", _binary(f"__{_name}__", _fn)[0])
for _name, _fn in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(DeviceArray, f"__{_name}__", _unary(_fn))


def _index(key, shape):
    """An index as CuPy reads it: host index arrays and lists are fine (host to device), and integer array
    indices out of bounds wrap around (CuPy does not check them on the device; NumPy raises)."""
    keys = [k._host if type(k) is DeviceArray else k for k in (key if type(key) is tuple else (key,))]
    arrays = [np.asarray(k) if isinstance(k, (list, tuple, np.ndarray)) else None for k in keys]
    used = sum(0 if k is None or k is Ellipsis else (a.ndim if a is not None and a.dtype == np.bool_ else 1)
               for k, a in zip(keys, arrays))
    axis = 0
    for i, (k, a) in enumerate(zip(keys, arrays)):
        if k is Ellipsis:
            axis += len(shape) - used
        elif a is not None and a.dtype == np.bool_:
            axis += a.ndim
        elif k is not None:
            if a is not None and a.dtype.kind in "iu" and axis < len(shape) and shape[axis]:
                keys[i] = a % shape[axis]
            axis += 1
    return tuple(keys)


def _take(a, indices, axis=None, out=None):
    return np.take(a, np.asarray(indices) % (a.size if axis is None else a.shape[axis]), axis, out)


def _take_along_axis(a, indices, axis):
    return np.take_along_axis(a, indices % a.shape[axis], axis)


def _put_along_axis(arr, indices, values, axis):
    np.put_along_axis(arr, indices % arr.shape[axis], values, axis)


def _is_mask(key):
    keys = key if type(key) is tuple else (key,)
    return any(getattr(k, "dtype", None) == np.bool_ and getattr(k, "ndim", 0) > 0 for k in keys)


def _wrap(value):
    """NumPy results as device values: arrays and the NumPy scalars of reductions (CuPy gives 0-d arrays)."""
    t = type(value)
    if t is np.ndarray:
        return DeviceArray(value)
    if isinstance(value, np.generic):
        return DeviceArray(np.asarray(value))
    if t is tuple or t is list:
        return t(_wrap(v) for v in value)
    if isinstance(value, tuple):  # NumPy's named results (SVDResult, EighResult): CuPy gives plain tuples
        return tuple(_wrap(v) for v in value)
    return value


def _unwrap(value, name, host_ok):
    t = type(value)
    if t is DeviceArray:
        return value._host
    if t is tuple or t is list:
        return t(_unwrap(v, name, host_ok) for v in value)
    if not host_ok and isinstance(value, np.ndarray):
        raise TypeError(f"{name}: got a host numpy array ({value.shape}, {value.dtype}) where CuPy takes "
                        "device arrays; move it to the device first (xp.asarray)")
    return value


def _check_keywords(name, entry, kwargs):
    params = entry.get("params")
    if params is None or entry.get("var_kw"):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise TypeError(f"{name}() got keyword(s) {unknown} that CuPy's {name} does not take "
                        f"(it takes {params})")


def _checked(fn, name, entry, host_ok=False):
    """fn, called as CuPy's `name` would be: keywords checked, device arrays in, device values out."""
    syncing = name.rpartition(".")[2] in _SYNCING

    def call(*args, **kwargs):
        if kwargs:
            _check_keywords(name, entry, kwargs)
        out = kwargs.get("out")
        kwargs = {k: _unwrap(v, name, host_ok) for k, v in kwargs.items()}
        with np.errstate(all="ignore"):  # CuPy never warns of inf or nan
            result = fn(*_unwrap(args, name, host_ok), **kwargs)
        if syncing:
            syncs[name] += 1
        if type(out) is DeviceArray and result is out._host:
            return out
        return _wrap(result)

    call.__name__ = name
    return call


class _Ufunc:
    """A NumPy ufunc behind the face of a CuPy ufunc: CuPy's keywords, and only the methods CuPy has."""

    def __init__(self, ufunc, name, entry):
        self._ufunc, self._name, self._methods = ufunc, name, entry["methods"]
        self._call = _checked(ufunc, name, {"params": list(cupy_api.UFUNC_KEYWORDS)})

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, attr):
        if attr not in self._methods:
            if hasattr(self._ufunc, attr) and not callable(getattr(self._ufunc, attr)):
                return getattr(self._ufunc, attr)  # nin, nout, ...
            raise AttributeError(f"CuPy's ufunc {self._name} has no method {attr!r}")
        return _checked(getattr(self._ufunc, attr), f"{self._name}.{attr}", {"params": None})


class _Namespace:
    """A CuPy namespace (cupy, cupy.random, ...) answered by its NumPy twin, held to CuPy's names."""

    def __init__(self, name, numpy_module, overrides=None):
        self._name, self._numpy, self._entries = name, numpy_module, _API[name]
        self._overrides = overrides or {}
        self._cache = {}

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self._cache:
            return self._cache[attr]
        entry = self._entries.get(attr)
        if entry is None:
            raise AttributeError(f"{self._name} has no attribute {attr!r}: CuPy lacks it, so it fails on "
                                 "a real GPU (gpunet's simulated cuda device holds code to CuPy's API)")
        if attr in self._overrides:
            value = self._overrides[attr]
        elif not hasattr(self._numpy, attr):
            raise AttributeError(f"{self._name}.{attr} exists in CuPy but has no simulated twin")
        else:
            value = getattr(self._numpy, attr)
            if entry["kind"] == "ufunc":
                value = _Ufunc(value, f"{self._name}.{attr}", entry)
            elif entry["kind"] == "function":
                value = _checked(value, f"{self._name}.{attr}", entry)
        self._cache[attr] = value
        return value

    def __dir__(self):
        return sorted(self._entries)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """The one way from the simulated device to the host (CuPy's name): a host copy, counted in `syncs`."""
    if type(a) is not DeviceArray:
        raise TypeError(f"asnumpy: expected a cuda device array, got {type(a).__name__}")
    syncs["asnumpy"] += 1
    host = np.array(a._host, order=order, copy=True)
    if out is not None:
        out[...] = host
        return out
    return host


def _from_host(name):
    # cupy.array/asarray/asanyarray: a host object is copied to the device (never aliased); a device array
    # is kept where NumPy would keep it
    make, entry = getattr(np, name), _API["cupy"][name]

    def to_device(obj, *args, **kwargs):
        _check_keywords(f"cupy.{name}", entry, kwargs)
        kwargs.pop("blocking", None)
        if type(obj) is DeviceArray:
            host = make(obj._host, *args, **kwargs)
            return obj if host is obj._host else DeviceArray(host)
        kwargs["copy"] = True
        return DeviceArray(make(_unwrap(obj, f"cupy.{name}", True), *args, **kwargs))

    return to_device


def _generator(bit_generator):
    # cupy.random.Generator's methods and keywords over NumPy's Generator
    gen = np.random.Generator(bit_generator)
    return _Namespace("cupy.random.Generator", gen)


def _xorwow(seed=None, size=-1):
    # cupy.random.XORWOW: the simulator draws from NumPy's PCG64 (the streams differ from a GPU's anyway)
    return np.random.PCG64(seed)


random = _Namespace("cupy.random", np.random, {"Generator": _generator, "XORWOW": _xorwow})
linalg = _Namespace("cupy.linalg", np.linalg)
fft = _Namespace("cupy.fft", np.fft)
lib = _Namespace("cupy.lib", np.lib,
                 {"stride_tricks": _Namespace("cupy.lib.stride_tricks", np.lib.stride_tricks)})


def _scatter_add(a, slices, value):
    # cupyx.scatter_add: a[slices] += value, accumulating repeated indices
    np.add.at(a._host, _index(slices, a.shape), value._host if type(value) is DeviceArray else value)


cupyx = _Namespace("cupyx", None, {"scatter_add": _scatter_add})
namespace = _Namespace("cupy", np, {"ndarray": DeviceArray, "asnumpy": asnumpy, "random": random,
                                    "linalg": linalg, "fft": fft, "lib": lib})
namespace._overrides.update({name: _from_host(name) for name in ("array", "asarray", "asanyarray")})
namespace._overrides.update({name: _checked(fn, f"cupy.{name}", _API["cupy"][name]) for name, fn in
                             {"take": _take, "take_along_axis": _take_along_axis,
                              "put_along_axis": _put_along_axis}.items()})
