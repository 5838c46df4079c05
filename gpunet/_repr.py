"""PyTorch-looking tensor printing: tensor([1.0000, 2.5000], requires_grad=True).

Follows PyTorch's default print options: 4 digits, a line width of 80, and arrays of more than 1000
elements summarised to their first and last 3 entries along every dimension.
"""
import numpy as np

from gpunet.dtypes import get_default_dtype

_PRECISION = 4
_LINEWIDTH = 80
_THRESHOLD = 1000
_EDGE = 3


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _float_formatter(arr):
    """Choose PyTorch's mode from the nonzero finite values:
    integers ('1.'), fixed ('1.0000') or '1.0000e+00'."""
    flat = arr.astype(np.float64).reshape(-1)
    vals = flat[np.isfinite(flat) & (flat != 0)]
    absval = np.abs(vals)
    int_mode = bool(np.all(vals == np.ceil(vals)))
    sci = False
    if vals.size:
        hi, lo = absval.max(), absval.min()
        sci = hi / lo > 1000.0 or hi > 1.0e8 or (not int_mode and lo < 1.0e-4)
    if sci:
        fmt = lambda v: _special(v) or f"{v:.{_PRECISION}e}"  # noqa: E731
    elif int_mode:
        fmt = lambda v: _special(v) or f"{v:.0f}."  # noqa: E731
    else:
        fmt = lambda v: _special(v) or f"{v:.{_PRECISION}f}"  # noqa: E731
    width = max((len(fmt(v)) for v in vals.tolist()), default=1)  # zeros, nan and inf do not widen
    return fmt, width


def _formatter(arr):
    if arr.dtype.kind == "f":
        return _float_formatter(arr)
    fmt = (lambda v: "True" if v else "False") if arr.dtype.kind == "b" else str
    return fmt, max((len(fmt(v)) for v in arr.reshape(-1).tolist()), default=1)


def _summarized(arr, cut):
    """The part of arr that is shown: the first and last _EDGE entries of each cut dimension."""
    for axis, c in enumerate(cut):
        if c:
            n = arr.shape[axis]
            arr = np.concatenate([arr.take(range(_EDGE), axis), arr.take(range(n - _EDGE, n), axis)], axis)
    return arr


def _vector(items, indent, cut, width):
    if cut:
        items = items[:_EDGE] + [" ..."] + items[-_EDGE:]
    per_line = max(1, (_LINEWIDTH - indent) // (width + 2))
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nest(a, indent, cut, width):
    if a.ndim == 1:
        return _vector(list(a), indent, cut[0], width)
    rows = [_nest(r, indent + 1, cut[1:], width) for r in a]
    if cut[0]:
        rows = rows[:_EDGE] + ["..."] + rows[-_EDGE:]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def format_array(arr, indent):
    """The body of a tensor's repr (without 'tensor(' and the suffixes)."""
    if arr.size == 0:
        return "[]"
    summarize = arr.size > _THRESHOLD
    cut = tuple(summarize and n > 2 * _EDGE for n in arr.shape)
    shown = _summarized(arr, cut)
    fmt, width = _formatter(shown)
    if arr.ndim == 0:
        return fmt(arr.item())
    strs = np.array([fmt(v).rjust(width) for v in shown.reshape(-1).tolist()], dtype=object)
    return _nest(strs.reshape(shown.shape), indent, cut, width)


def _add_suffixes(body, suffixes, indent):
    """Join the suffixes with ', ', moving one to a new line when it would pass the line width."""
    out = [body]
    last_line = len(body) - body.rfind("\n") + 1
    for s in suffixes:
        if last_line + len(s) + 2 > _LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last_line = indent + len(s)
        else:
            out.append(", " + s)
            last_line += len(s) + 2
    return "".join(out) + ")"


def tensor_repr(t, prefix="tensor("):
    arr = t.detach().cpu()._data
    indent = len(prefix)
    body = format_array(arr, indent)
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    default = get_default_dtype().name
    if t.dtype.name not in (default, "int64", "bool") or (arr.size == 0 and t.dtype.name != default):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + _add_suffixes(body, extras, indent)
