"""kernels.compile_check covers every CUDA kernel of the package, and flags what it should.

The full check (python -m kernels.compile_check, ~20 s) is not run here; these tests prove that its
recording phase reaches every declared kernel in every dtype, that no kernel escapes the declaration,
and that its checking function flags float64 promotion, local memory and compile errors.
"""
import ast
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numba
import numpy as np
import pytest

from kernels.compile_check import ptx, record

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kernels"
DECLARER = PACKAGE / "cuda" / "_launch.py"


def _is_kernel_decorator(node):
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "kernel") or (
        isinstance(target, ast.Attribute) and target.attr == "kernel")


def _is_cuda_jit(node):
    if isinstance(node, ast.Attribute) and node.attr == "jit":
        owner = node.value
        return (isinstance(owner, ast.Name) and owner.id == "cuda") or (
            isinstance(owner, ast.Attribute) and owner.attr == "cuda")
    if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("cuda"):
        return any(alias.name == "jit" for alias in node.names)
    return False


def _declared_in(node, module, prefix=""):
    """"module.qualname" of the functions under node decorated with kernel / _launch.kernel."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if isinstance(child, ast.FunctionDef) and any(map(_is_kernel_decorator, child.decorator_list)):
                yield f"{module}.{name}"
            yield from _declared_in(child, module, name + (".<locals>." if isinstance(child, ast.FunctionDef)
                                                           else "."))
        else:
            yield from _declared_in(child, module, prefix)


def _scan():
    """({"module.qualname" of every function decorated with kernel}, [files using cuda.jit directly])."""
    declared, direct = set(), []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(), str(path))
        if path != DECLARER and any(_is_cuda_jit(node) for node in ast.walk(tree)):
            direct.append(str(path.relative_to(ROOT)))
        declared.update(_declared_in(tree, module))
    return declared, direct


@pytest.fixture(scope="module")
def recorded():
    return record.record_launches()  # the check's phase 1, in this (simulator) process: ~5 s


def test_no_kernel_bypasses_the_declaration():
    declared, direct = _scan()
    assert direct == [], f"cuda.jit used outside kernels/cuda/_launch.py (use _launch.kernel): {direct}"
    assert len(declared) >= 18


@pytest.mark.parametrize("source, bypasses, declared", [
    ("from numba import cuda\n@cuda.jit(cache=True)\ndef f(x): pass", True, set()),
    ("import numba\nf = numba.cuda.jit(lambda x: None)", True, set()),
    ("from numba.cuda import jit", True, set()),
    (("from kernels.cuda._launch import kernel\n@kernel\ndef f(x): pass\n"
      "class A:\n    @kernel(dtypes=('float32',))\n    def g(x): pass"), False, {"m.f", "m.A.g"}),
])
def test_scan_sees_kernels_and_bypasses(source, bypasses, declared):
    tree = ast.parse(source)
    assert any(_is_cuda_jit(node) for node in ast.walk(tree)) == bypasses
    assert set(_declared_in(tree, "m")) == declared


def test_recording_reaches_every_declared_kernel_in_every_dtype(recorded):
    declared, _ = _scan()
    assert set(recorded["declared"]) == declared  # nothing declared in a module the launchers don't import
    assert record.coverage_problems(recorded) == []
    generic = [name for name, dtypes in recorded["declared"].items() if dtypes == ("float32", "float64")]
    assert len(generic) >= 17  # every kernel but the float32 roof pass is generic


def test_recorded_types_are_the_launch_types(recorded):
    sigs = {(launch["kernel"], record.float_dtype(launch["argtypes"])): launch
            for launch in recorded["launches"]}
    adam = sigs["kernels.cuda.optim._adam", "float32"]
    assert [str(t) for t in adam["argtypes"][:5]] == ["array(float32, 1d, C)"] * 5
    assert {str(t) for t in adam["argtypes"][5:13]} == {"float32"}  # host scalars cast to the dtype
    assert {str(t) for t in adam["argtypes"][13:]} == {"bool"}
    max_bwd = sigs["kernels.cuda.pool._max_bwd", "float64"]
    assert [str(t) for t in max_bwd["argtypes"]] == ["array(float64, 1d, C)", "array(int64, 1d, C)",
                                                     "array(float64, 1d, C)", "int64", "int64", "int64"]
    # softmax's row kernels size their blocks to the rows ((rows per block) x (threads per row) <= 256); the
    # attention forward runs one block of THREADS threads per query row; every other kernel blocks of 256
    from kernels.cuda.attention import THREADS
    rows = {f"kernels.cuda.softmax.{k}" for k in ("_softmax_fwd", "_softmax_bwd", "_ce_fwd")}
    for launch in recorded["launches"]:
        if launch["kernel"] in rows:
            assert all(0 < t <= 256 for t in launch["threads"]), launch
        elif launch["kernel"].startswith("kernels.cuda.attention."):
            assert launch["threads"] == [THREADS], launch
        else:
            assert launch["threads"] == [256], launch


def test_coverage_problems_name_what_is_missing():
    f32, f64 = (numba.typeof(np.zeros(1, dtype)) for dtype in (np.float32, np.float64))
    recorded = {"declared": {"k.a": ("float32", "float64"), "k.b": ("float32",)},
                "launches": [{"kernel": "k.a", "argtypes": (f32,), "threads": [256]},
                             {"kernel": "k.b", "argtypes": (f64,), "threads": [256]},
                             {"kernel": f"{record.UNREGISTERED} m.f", "argtypes": (f32,), "threads": [256]}]}
    problems = record.coverage_problems(recorded)
    assert any(p.startswith("k.a: declared for float64 but never launched") for p in problems)
    assert any(p.startswith("k.b: launched in float64") for p in problems)
    assert any("m.f: launched but not declared" in p for p in problems)
    assert any(p.startswith("k.b: declared for float32 but never launched") for p in problems)


def test_float64_instructions_are_instructions_not_declarations():
    text = """
    .reg .f64 %fd<4>;
    .param .f64 p;
    // div.rn.f64 in a comment
    $L__BB0_2:
    cvt.f64.f32 %fd1, %f1;
    @%p1 add.f64 %fd2, %fd1, %fd1;
    cvt.rn.f32.f64 %f2, %fd2;
    add.f32 %f3, %f2, %f2;
    """
    assert ptx.float64_instructions(text) == ["cvt.f64.f32", "add.f64", "cvt.rn.f32.f64"]


@pytest.mark.parametrize("cc, registers, shared, threads, expected", [
    ((9, 0), 32, 0, 256, (8, 1.0)),        # 32 regs x 2048 threads fill the register file exactly
    ((9, 0), 36, 0, 256, (6, 0.75)),       # 36 regs round up to 40 per thread (256 per warp)
    ((8, 0), 92, 0, 256, (2, 0.25)),
    ((8, 0), 16, 48 * 1024, 128, (3, 0.1875)),  # shared: (48 + 1 reserved) KB per block of 164 KB
    ((9, 0), 16, 48 * 1024, 128, (4, 0.25)),    # of 228 KB
    ((9, 0), 255, 0, 1024, (0, 0.0)),      # too many registers for a block of 1024
])
def test_occupancy(cc, registers, shared, threads, expected):
    assert ptx.occupancy(cc, registers, shared, threads) == expected


_PLANTED = """
import importlib.util, json, sys
from numba import float32, int64
from kernels.compile_check.ptx import check, find_ptxas
spec = importlib.util.spec_from_file_location("planted", sys.argv[1])
planted = importlib.util.module_from_spec(spec)
spec.loader.exec_module(planted)
names = ["clean", "int_divisor", "float_literal", "local_array", "does_not_compile"]
sig = (float32[::1], float32[::1], int64)
print(json.dumps({n: check(getattr(planted, n), sig, (9, 0), 256, "float32", find_ptxas()) for n in names}))
"""


def test_check_flags_float64_local_memory_and_compile_errors():
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed (pip install 'numba-cuda[cu12]')")
    if ptx.find_ptxas() is None:
        pytest.skip("ptxas not found (the nvidia-cuda-nvcc-cu12 wheel ships it)")
    env = {k: v for k, v in os.environ.items() if k not in ("GPUNET_CUDA_SIM", "NUMBA_ENABLE_CUDASIM")}
    planted = str(ROOT / "tests" / "kernels" / "compile_check_planted.py")
    done = subprocess.run([sys.executable, "-c", _PLANTED, planted], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows["clean"]["problems"] == [] and rows["clean"]["f64"] == 0 and rows["clean"]["registers"] > 0
    for name in ("int_divisor", "float_literal"):
        assert rows[name]["f64"] > 0
        problems = rows[name]["problems"]
        assert any("float64 instructions in a float32 kernel" in p for p in problems), rows[name]
    assert "div.rn.f64" in rows["int_divisor"]["problems"][0]
    assert rows["local_array"]["stack"] > 0
    assert any(p.startswith("local memory") for p in rows["local_array"]["problems"])
    assert rows["does_not_compile"]["problems"][0].startswith("does not compile: TypingError")
