"""Argument validation shared by kernels.cpu and kernels.cuda: runs before any kernel."""

FLOAT_DTYPES = ("float16", "float32", "float64")


def pair(value, name, op):
    """Normalise an int or a 2-sequence of ints to a tuple (h, w)."""
    if isinstance(value, int):
        return (value, value)
    try:
        h, w = value
        return (int(h), int(w))
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None


def check_float(x, name, op):
    if str(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be a floating-point array (float16/32/64), got {x.dtype}")


def check_ndim(x, ndim, name, op, layout=""):
    if x.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D {layout}, got shape {tuple(x.shape)}")


def check_positive(values, name, op):
    if any(v <= 0 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {values}")


def check_nonnegative(values, name, op):
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: {name} must be non-negative, got {values}")


def check_same_dtype(op, **arrays):
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n}={d}" for n, d in dtypes.items())
        raise TypeError(f"{op}: all arrays must share one dtype, got {listed}")


def check_same_shape(op, **arrays):
    shapes = {name: tuple(a.shape) for name, a in arrays.items() if a is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n}={s}" for n, s in shapes.items())
        raise ValueError(f"{op}: all arrays must have one shape, got {listed}")
