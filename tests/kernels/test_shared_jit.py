"""The per-element maths written once (kernels/_optim_math.py, kernels/_pool_math.py) and how both backends
compile it (kernels/_shared_jit.py)."""
import importlib.util

import numpy as np
from numba import njit

import kernels.cpu.optim as cpu_optim
import kernels.cpu.pool as cpu_pool
from kernels import _optim_math, _pool_math
from kernels._shared_jit import cached_as, compile_functions, source_digest


def _module(path, source):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compiled_functions_call_each_other_and_inline(tmp_path):
    maths = _module(tmp_path / "maths.py", "def _half(x):\n    return x / 2\n\n\n"
                                           "def quarter(x):\n    return _half(_half(x))\n")
    M = compile_functions(maths, njit(inline="always"))

    @njit
    def loop(a):
        for i in range(a.size):
            a[i] = M.quarter(a[i])

    a = np.full(3, 8.0)
    loop(a)
    np.testing.assert_array_equal(a, 2.0)
    assert maths.quarter(8.0) == 2.0  # the module's own functions stay plain Python
    assert M.quarter.py_func is not maths.quarter and M._half.py_func.__globals__ is vars(M)


def test_cache_names_follow_the_maths_source(tmp_path):
    # Numba's disk cache checks only a kernel's own file: the name of a kernel inlining the maths must
    # change when the maths does, or it would keep running the old machine code
    maths = _module(tmp_path / "maths.py", "def f(x):\n    return x\n")

    def kernel():
        pass

    before = cached_as(kernel, maths)
    assert before.__qualname__ == f"{kernel.__qualname__}__{source_digest(maths)}"
    assert before.__code__ is kernel.__code__
    (tmp_path / "maths.py").write_text("def f(x):\n    return x + 1\n")
    assert cached_as(kernel, maths).__qualname__ != before.__qualname__
    digest = source_digest(_optim_math)
    assert cpu_optim._adam.kernel.py_func.__qualname__ == f"_adam__{digest}"
    assert cpu_optim._adam.serial.py_func.__qualname__ == f"_adam__{digest}_serial"
    assert cpu_pool._avg_fwd.py_func.__qualname__ == f"_avg_fwd__{source_digest(_pool_math)}"


def test_maths_runs_as_plain_python():
    # what the CUDA simulator runs: the functions themselves, on NumPy scalars of the arrays' dtype
    f = np.float32
    p, buf = _optim_math.sgd_update(f(1), f(0.5), f(3), f(0.1), f(0.9), f(1), f(0), True, False, False, True)
    assert (p, buf) == (f(1) - f(0.1) * f(0.5), f(0.5))  # the first step copies the gradient
    assert _optim_math.load(np.empty(0, f), 5, False, f(7)) == f(7)  # an unused slot is never read
    assert _pool_math.avg_window(0, 2, 1, 3, 5) == (0, 2, 3)  # the padded count keeps the left padding
    assert _pool_math.avg_outputs(4, 1, 3, 2, 3) == (2, 3)
    assert _pool_math.adaptive_window(1, 7, 3) == (2, 5) and _pool_math.adaptive_outputs(2, 7, 3) == (0, 2)
    x = np.arange(12, dtype=f)
    best, arg = _pool_math.max_window(x, 0, 3, 4, -1, -1, 3, 3, 1, 1)
    assert (best, arg) == (f(5), 5)
