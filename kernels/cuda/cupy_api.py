"""The CuPy API that the strict simulator holds code to: which names exist and which keywords they take.

``cupy_api.json`` beside this file is a snapshot of an installed ``cupy-cuda12x`` (CuPy imports without a
GPU or driver), so the simulator needs no CuPy. Take a new one with ``python -m kernels.cuda.cupy_api``;
tests/kernels/test_strict_sim.py compares the snapshot with the installed CuPy when there is one.

An entry is ``{"kind": "function", "params": [...] or null, "var_kw": bool}`` (null: the signature
could not be read, any keyword passes), ``{"kind": "ufunc", "methods": [...]}``, or
``{"kind": "value"}`` (types, dtypes, constants, attributes).
"""
import inspect
import json
import os
import re

PATH = os.path.join(os.path.dirname(__file__), "cupy_api.json")

# The namespaces gpunet can reach through `xp`, with where to find each in an installed CuPy.
NAMESPACES = ("cupy", "cupy.random", "cupy.linalg", "cupy.fft", "cupy.lib", "cupy.lib.stride_tricks",
              "cupy.ndarray", "cupy.random.Generator", "cupyx")

# ufunc keywords CuPy's ufunc.__call__ documents (out, dtype) and accepts (casting)
UFUNC_KEYWORDS = ("out", "dtype", "casting")

_DOC_SIGNATURE = re.compile(r"^[\w.]+\((?P<params>.*?)\)")


def _params_from_doc(obj):
    # Cython methods carry their signature only as the docstring's first line:
    # "_ndarray_base.sum(self, axis=None, dtype=None, out=None, keepdims=False) -> _ndarray_base"
    first = (getattr(obj, "__doc__", None) or "").strip().splitlines()[:1]
    match = _DOC_SIGNATURE.match(first[0]) if first else None
    if match is None:
        return None, True
    names, var_kw = [], False
    for part in filter(None, (p.strip() for p in match.group("params").split(","))):
        if part.startswith("**"):
            var_kw = True
        elif not part.startswith("*") and part != "self":
            names.append(part.split("=")[0].split()[-1])
    return names, var_kw


def _entry(obj, ufunc_type):
    if isinstance(obj, ufunc_type):
        methods = [m for m in ("at", "reduce", "accumulate", "reduceat", "outer") if hasattr(obj, m)]
        return {"kind": "ufunc", "methods": methods}
    if isinstance(obj, type) or not callable(obj):
        return {"kind": "value"}
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        params, var_kw = _params_from_doc(obj)
    else:
        params = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
        var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    return {"kind": "function", "params": params, "var_kw": var_kw}


def read_installed():
    """The snapshot of the installed CuPy (imports cupy and cupyx; no GPU needed)."""
    import cupy
    import cupyx

    ufunc_type = type(cupy.add)
    roots = {"cupy": cupy, "cupy.random": cupy.random, "cupy.linalg": cupy.linalg, "cupy.fft": cupy.fft,
             "cupy.lib": cupy.lib, "cupy.lib.stride_tricks": cupy.lib.stride_tricks,
             "cupy.ndarray": cupy.ndarray, "cupy.random.Generator": cupy.random.Generator, "cupyx": cupyx}
    namespaces = {}
    for name in NAMESPACES:
        root = roots[name]
        dunders = name == "cupy.ndarray"  # an array's operators and protocols are part of its API
        names = [n for n in dir(root) if not n.startswith("_") or (dunders and n.startswith("__"))]
        namespaces[name] = {n: _entry(getattr(root, n), ufunc_type) for n in sorted(names)}
    return {"cupy_version": cupy.__version__, "namespaces": namespaces}


def load():
    with open(PATH) as f:
        return json.load(f)


def write(snapshot):
    # one entry a line, so a new CuPy's snapshot reads as a short diff
    namespaces = snapshot["namespaces"]
    lines = ["{", f'"cupy_version": {json.dumps(snapshot["cupy_version"])},', '"namespaces": {']
    for i, ns in enumerate(sorted(namespaces)):
        entries = namespaces[ns]
        lines.append(f"{json.dumps(ns)}: {{")
        rows = [f"  {json.dumps(n)}: {json.dumps(entries[n], sort_keys=True)}" for n in sorted(entries)]
        lines.append(",\n".join(rows))
        lines.append("}" + ("," if i < len(namespaces) - 1 else ""))
    lines += ["}", "}"]
    with open(PATH, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(read_installed())
    print(f"wrote {PATH}")
