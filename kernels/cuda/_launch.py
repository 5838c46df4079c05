"""The one place that knows how kernels.cuda reaches the device.

- ``xp``: cupy on a real GPU; in simulator mode ``kernels.cuda.strict_sim.namespace``, NumPy held to
  CuPy's API, whose device arrays refuse implicit conversion to the host as CuPy's do.
- ``launch(kernel, n, *args)``: sizes a 1-D grid for n threads and launches on CuPy's current
  stream without waiting on it (Numba's default per-launch sync on CuPy arrays would turn the
  asynchronous pipeline into lockstep). The simulator has no external streams: it launches plainly.
- ``launch_grid(kernel, grid, block, *args)``: an explicit grid and block.
- ``kernel(fn)`` declares every CUDA kernel of the package (``KERNELS``), so kernels.compile_check
  can compile each one for real GPUs with the argument types ``recorder`` saw at its launches;
  ``device_functions(module)`` compiles the per-element maths the kernels share with kernels.cpu, and
  ``device_function(fn)`` one helper of a kernels.cuda module.
Nothing here synchronizes.
"""
import math

import numpy as np

from kernels import simulator_enabled
from kernels._shared_jit import cached_as, compile_functions

THREADS_PER_BLOCK = 256

_reason = None
try:
    from numba import cuda
except Exception as exc:  # numba missing or broken: kernels.cuda can't run, kernels.cpu still can
    cuda = None
    _reason = f"numba.cuda could not be imported: {exc}"

SIMULATOR = simulator_enabled()
if SIMULATOR:
    from kernels.cuda import strict_sim
    xp = strict_sim.namespace
elif cuda is None:
    xp = np
else:
    try:
        import cupy as xp
    except ImportError as exc:
        xp = None
        _reason = f"CuPy is not installed ({exc}); install gpunet[cuda] or set GPUNET_CUDA_SIM=1"
    else:
        if not cuda.is_available():
            _reason = "no CUDA GPU is visible to Numba (set GPUNET_CUDA_SIM=1 to use the simulator)"


def available():
    """True when kernels.cuda can launch (a real GPU, or the simulator)."""
    return _reason is None


def unavailable_reason():
    return _reason


def require():
    if _reason is not None:
        raise RuntimeError(f"kernels.cuda cannot run here: {_reason}")


KERNELS = {}  # "module.qualname" -> (kernel, dtypes): every CUDA kernel in the package, declared by kernel()
recorder = None  # kernels.compile_check sets a callable(kernel, args, threads_per_block) to see launches


def kernel(fn=None, *, dtypes=("float32", "float64"), uses=()):
    """Declare a CUDA kernel: ``cuda.jit(cache=True)``, registered in KERNELS. ``dtypes``: the float
    dtypes its launchers instantiate it in (kernels.compile_check compiles and checks each). ``uses``: the
    maths module (or modules) whose ``device_functions`` it inlines: its cache entries are tied to their
    sources (kernels._shared_jit.cached_as). Without numba.cuda the kernel stays a plain function
    (launching says why it cannot run)."""
    def declare(fn):
        name = f"{fn.__module__}.{fn.__qualname__}"
        modules = uses if isinstance(uses, (tuple, list)) else (uses,)
        if modules:
            fn = cached_as(fn, *modules)
        compiled = fn if cuda is None else cuda.jit(cache=True)(fn)
        KERNELS[name] = (compiled, tuple(dtypes))
        return compiled
    return declare if fn is None else declare(fn)


def device_function(fn):
    """One scalar helper of a kernels.cuda module (a block reduction, ...) as a CUDA device function inlined
    into the kernels that call it, ``cuda.jit(device=True, inline="always")``; without numba.cuda, fn."""
    return fn if cuda is None else cuda.jit(device=True, inline="always")(fn)


def device_functions(module):
    """The plain scalar functions of a maths module (kernels/_optim_math.py, ...) as CUDA device functions
    inlined into the kernels that call them: a module of ``cuda.jit(device=True, inline="always")`` copies
    (kernels._shared_jit.compile_functions). Without numba.cuda, the module itself."""
    if cuda is None:
        return module
    return compile_functions(module, cuda.jit(device=True, inline="always"))


def _device_args(args):
    # launchers pass C-contiguous arrays: the simulator refuses strided ones, and kernels index flat
    if SIMULATOR:
        return [a._host if type(a) is strict_sim.DeviceArray else a for a in args]
    return [cuda.as_cuda_array(a, sync=False) if hasattr(a, "__cuda_array_interface__") else a
            for a in args]


def _stream():
    if SIMULATOR:
        return 0
    return cuda.external_stream(xp.cuda.get_current_stream().ptr)


def blocks_for(n, threads=THREADS_PER_BLOCK):
    return max(1, math.ceil(n / threads))


def launch(kernel, n, *args, threads=THREADS_PER_BLOCK):
    """Launch ``kernel`` over n threads (1-D grid). Zero-size work launches nothing."""
    require()
    if n <= 0:
        return
    args = _device_args(args)
    if recorder is not None:
        recorder(kernel, args, threads)
    kernel[blocks_for(n, threads), threads, _stream()](*args)


def launch_grid(kernel, grid, block, *args):
    """Launch with an explicit grid and block (tuples)."""
    require()
    args = _device_args(args)
    if recorder is not None:
        recorder(kernel, args, math.prod(block))
    kernel[grid, block, _stream()](*args)
