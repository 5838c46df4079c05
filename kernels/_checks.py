"""Argument validation shared by kernels.cpu and kernels.cuda: runs before any kernel."""


def is_float(dtype):
    """float16, float32 or float64 (by dtype.char: str(dtype) and dtype.name run Python code in NumPy 2,
    ~2 us, on every kernel call)."""
    return dtype.char in "efd"


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
    if not is_float(x.dtype):
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


def check_step_arrays(op, array_type, arrays, needed):
    """Validate a fused optimizer step's arrays before any kernel runs.

    arrays: {name: array or None}, param first; needed: {state name: the option that needs it, or ""}.
    param and grad are always needed. Every array given must be a 1-D, C-contiguous array_type of the
    param's length and dtype (float32/float64); all but grad must be writeable. grad may instead be a
    list or tuple of such arrays (segments) whose lengths add up to the param's.
    """
    grad = arrays["grad"]
    if isinstance(grad, (list, tuple)):
        _check_arrays(op, array_type, {name: a for name, a in arrays.items() if name != "grad"}, needed)
        _check_segments(op, array_type, grad, arrays["param"])
    else:
        _check_arrays(op, array_type, arrays, {"grad": "", **needed})


def _check_arrays(op, array_type, arrays, needed):
    param = arrays["param"]
    required = ("param", *needed)
    if (type(param) is array_type and param.ndim == 1 and param.dtype.char in "fd"
            and all(arrays[name] is not None for name in required)):
        shape, dtype = param.shape, param.dtype  # fast path: one call per tensor per step
        for name, a in arrays.items():
            if a is not None and not (type(a) is array_type and a.shape == shape and a.dtype == dtype
                                      and a.flags.c_contiguous
                                      and (name == "grad" or getattr(a.flags, "writeable", True))):
                break
        else:
            return
    for name in required:
        if arrays[name] is None:
            reason = needed.get(name, "")
            why = f" when {reason}" if reason else ""
            raise ValueError(f"{op}: {name} is required{why}, got None")
    for name, a in arrays.items():
        if a is None:
            continue
        _check_flat(op, array_type, name, a, param)
        if a.shape != param.shape:
            raise ValueError(f"{op}: {name} has {a.shape[0]} elements, expected param's {param.shape[0]}")
        if name != "grad" and not getattr(a.flags, "writeable", True):
            raise ValueError(f"{op}: {name} is updated in place but is read-only")
    if param.dtype.char not in "fd":  # float32, float64
        raise TypeError(f"{op}: arrays must be float32 or float64, got {param.dtype}")


def _check_flat(op, array_type, name, a, param):
    if not isinstance(a, array_type):
        raise TypeError(f"{op}: {name} must be a {array_type.__module__}.{array_type.__name__}, "
                        f"got {type(a).__name__}")
    if a.ndim != 1:
        raise ValueError(f"{op}: {name} must be 1-D (a flat view), got shape {tuple(a.shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous, got strides {a.strides}")
    if a.dtype != param.dtype:
        raise TypeError(f"{op}: {name} has dtype {a.dtype}, expected param's dtype {param.dtype}")


def _check_segments(op, array_type, segments, param):
    dtype, total = param.dtype, 0
    for k, g in enumerate(segments):
        if not (type(g) is array_type and g.ndim == 1 and g.dtype == dtype and g.flags.c_contiguous):
            _check_flat(op, array_type, f"grad segment {k}", g, param)
        total += g.shape[0]
    if total != param.size:
        raise ValueError(f"{op}: grad segments hold {total} elements in all, expected param's {param.size}")
