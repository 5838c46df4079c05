"""dtypes and PyTorch's type-promotion rules.

Promotion differs from NumPy's in two ways users notice:
- categories (bool < integer < floating) decide first; a Python float or a float tensor meeting an
  integer tensor gives the default float dtype (or the float tensor's dtype), never float64 by accident;
- within the winning category, dimensioned tensors outrank 0-d tensors, which outrank Python scalars
  (so float32_tensor * float64_scalar_tensor stays float32).
"""
import numpy as np

from gpunet import _naming


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category", "is_complex")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        self._category = category  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = category == 2
        self.is_complex = False
        self.is_signed = self.np.kind in "if"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return _naming.public(self.name)

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
_NAMES.update({"half": float16, "float": float32, "double": float64, "short": int16, "int": int32,
               "long": int64, "bool": bool_})

_default_float = [float32]


def _by_name(name):
    return _NAMES[name]


def get_default_dtype():
    return _default_float[0]


def set_default_dtype(d):
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed as default, got {d}")
    _default_float[0] = d


def from_numpy_dtype(np_dtype):
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        d = _FROM_NP.get(np.dtype(np_dtype))
        if d is None:
            raise TypeError(f"gpunet has no dtype for NumPy dtype {np_dtype} "
                            f"(supported: {', '.join(x.name for x in ALL)})") from None
        return d


def to_dtype(d):
    """Accept a gpunet dtype, a NumPy dtype/type, a Python type or a name ('float32')."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return get_default_dtype()
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str):
        key = d.replace("torch.", "").replace("gpunet.", "")
        if key in _NAMES:
            return _NAMES[key]
        raise TypeError(f"unknown dtype name {d!r}")
    return from_numpy_dtype(np.dtype(d))


def _scalar_category(value):
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return 1
    return 2


def result_type(a, b):
    """PyTorch's promotion of two operands, each a Tensor or a Python scalar. Returns a gpunet dtype."""
    a_t = hasattr(a, "_data")
    b_t = hasattr(b, "_data")
    if a_t and b_t:
        da, db = a.dtype, b.dtype
        if da is db:
            return da
        ca, cb = da._category, db._category
        if ca != cb:
            return da if ca > cb else db
        za, zb = a._data.ndim == 0, b._data.ndim == 0
        if za != zb:  # a dimensioned tensor outranks a 0-d tensor of the same category
            return db if za else da
        return from_numpy_dtype(np.promote_types(da.np, db.np))
    if a_t or b_t:
        t, s = (a, b) if a_t else (b, a)
        dt = t.dtype
        cs = _scalar_category(s)
        if cs <= dt._category:
            return dt
        return get_default_dtype() if cs == 2 else int64
    ca, cb = _scalar_category(a), _scalar_category(b)
    c = max(ca, cb)
    return (bool_, int64, get_default_dtype())[c]
