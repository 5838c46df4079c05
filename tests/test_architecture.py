"""The layer table of README's "How it is built", checked rather than described.

- `kernels` never imports gpunet (not even inside a function).
- No import made when a gpunet module is imported points to a higher layer (LAYERS below).
- An import inside a function that reaches another gpunet module is one of the few listed in
  DEFERRED, each deferring something heavy or optional; none breaks a cycle.
- The public face of `import gpunet` is the list in tests/package_face.txt.
"""
import ast
import os
import subprocess
import sys

import gpunet
import kernels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gpunet.__file__)))

# module prefix -> layer; a module takes the layer of its longest matching prefix
LAYERS = {
    # 0: below the tensor (utils.hooks, utils.named, _storage and compiler import nothing of gpunet)
    "gpunet.backend": 0, "gpunet.dtypes": 0, "gpunet.random": 0, "gpunet._repr": 0, "gpunet._storage": 0,
    "gpunet._naming": 0, "gpunet._torch_api": 0, "gpunet._missing": 0,
    "gpunet.utils.hooks": 0, "gpunet.utils.named": 0, "gpunet.compiler": 0,
    "gpunet.tensor": 1, "gpunet._from_data": 1,
    "gpunet.amp._policy": 1,  # autocast's state and cast rule, read by ops' entry points
    "gpunet.autograd": 2,
    "gpunet.autograd.functional": 3,  # jacobian/hessian: built on ops (stack); gpunet's face imports it
    "gpunet.ops": 3,
    "gpunet.nn": 4, "gpunet.optim": 4, "gpunet.utils": 4, "gpunet.cuda": 4, "gpunet.backends": 4,
    "gpunet.accelerator": 4, "gpunet.jit": 4, "gpunet.onnx": 4,
    "gpunet.linalg": 4, "gpunet.amp": 4,
    "gpunet.distributions": 4,  # built on ops; Bernoulli's log_prob is nn.functional's BCE with logits
    "gpunet.distributed": 4,  # nn.parallel (DDP) and utils.data.distributed import it; mpi4py waits for init
    "gpunet.serialization": 5,  # it restores nn.Parameter
    "gpunet.gpucheck": 6, "gpunet": 6,  # the package face imports everything
}

# (module, gpunet module imported inside one of its functions): why the import waits
DEFERRED = {
    ("gpunet.backend", "gpunet.backend.cpu"): "Device.backend: kernels.cpu (Numba) loads at first use",
    ("gpunet.backend", "gpunet.backend.cuda"): "Device.backend, canonical(): CuPy only for cuda",
    ("gpunet.cuda", "gpunet.backend.cuda"): "gpunet.cuda's queries load the cuda backend when asked",
    ("gpunet.distributed.process_group", "gpunet.distributed.nccl"): "CuPy's NCCL only for backend='nccl'",
}


def _modules(package):
    found = {}
    base = os.path.join(ROOT, package)
    for folder, _, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = path
    return found


def _imports(path, module, is_package):
    """[(imported module name, inside a function?)] of one file, relative imports resolved."""
    with open(path) as f:
        tree = ast.parse(f.read())
    package = module if is_package else module.rpartition(".")[0]
    inside = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in inside) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # "from pkg import name": the submodule pkg.name, or pkg itself (_resolve walks back)
            found += [(f"{base}.{a.name}", id(node) in inside) for a in node.names]
    return found


def _resolve(name, modules):
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module):
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def test_kernels_never_imports_gpunet():
    assert os.path.dirname(kernels.__file__) == os.path.join(ROOT, "kernels")
    offenders = [f"{m} imports {name}" for m, path in _modules("kernels").items()
                 for name, _ in _imports(path, m, path.endswith("__init__.py"))
                 if name == "gpunet" or name.startswith("gpunet.")]
    assert not offenders, offenders


def test_import_time_arrows_point_down_and_deferred_imports_are_listed():
    modules = _modules("gpunet")
    unplaced = [m for m in modules if _layer(m) is None]
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"
    upward, deferred = [], set()
    for module, path in modules.items():
        for name, in_function in _imports(path, module, path.endswith("__init__.py")):
            target = _resolve(name, modules)
            if target is None or target == module:
                continue
            if in_function:
                deferred.add((module, target))
            elif _layer(target) > _layer(module):
                upward.append(f"{module} (layer {_layer(module)}) -> {target} (layer {_layer(target)})")
    assert not upward, upward
    unlisted = sorted(deferred - set(DEFERRED))
    assert not unlisted, f"imports inside functions not in DEFERRED (move them to the top?): {unlisted}"


def test_the_package_face_is_the_listed_one():
    with open(os.path.join(os.path.dirname(__file__), "package_face.txt")) as f:
        listed = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    # in a fresh interpreter: submodules imported by other tests (gpunet.gpucheck) are not the face
    code = "import gpunet; print(' '.join(n for n in dir(gpunet) if not n.startswith('_')))"
    public = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    assert public - listed == set(), f"new public names (list them in package_face.txt): {public - listed}"
    assert listed - public == set(), f"listed names gpunet no longer has: {listed - public}"
