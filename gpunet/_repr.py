"""PyTorch-looking tensor printing: tensor([1.0000, 2.5000], requires_grad=True)."""
import numpy as np

_DEFAULT_SUFFIXLESS = ("float32", "int64", "bool")


def _format_floats(arr):
    finite = arr[np.isfinite(arr)]
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
        return lambda v: _special(v) or f"{v:.0f}."
    if finite.size:
        amax, amin = np.abs(finite).max(), np.abs(finite[finite != 0]).min() if np.any(finite != 0) else 0
        if amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1e3):
            return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def format_array(arr, indent):
    if arr.dtype.kind == "f":
        fmt = _format_floats(arr.astype(np.float64))
    elif arr.dtype.kind == "b":
        fmt = lambda v: "True" if v else "False"  # noqa: E731
    else:
        fmt = str
    if arr.size == 0:
        return "[]" if arr.ndim else ""
    flat = [fmt(v) for v in arr.reshape(-1).tolist()]
    width = max(len(s) for s in flat)
    flat = [s.rjust(width) for s in flat]
    if arr.ndim == 0:
        return flat[0].strip()
    summarize = arr.size > 1000
    return _nest(np.array(flat, dtype=object).reshape(arr.shape), indent, summarize)


def _nest(a, indent, summarize):
    if a.ndim == 1:
        items = list(a)
        if summarize and len(items) > 6:
            items = items[:3] + ["..."] + items[-3:]
        return "[" + ", ".join(items) + "]"
    rows = list(a)
    inner = [_nest(r, indent + 1, summarize) for r in (rows[:3] + rows[-3:] if summarize and len(rows) > 6 else rows)]
    if summarize and len(rows) > 6:
        inner = inner[:3] + ["..."] + inner[3:]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(inner) + "]"


def tensor_repr(t, prefix="tensor("):
    arr = t.detach().cpu()._data
    indent = len(prefix)
    body = format_array(arr, indent)
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    if t.dtype.name not in _DEFAULT_SUFFIXLESS or (arr.size == 0 and t.dtype.name != "float32"):
        extras.append(f"dtype=gpunet.{t.dtype.name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + ", ".join([body] + extras) + ")"
