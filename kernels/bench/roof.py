"""The machine's ceilings, measured in the same run as the kernels they judge.

- GEMM rate: float32 square matmul through BLAS (CPU) or cuBLAS (CUDA), in GFLOP/s.
- Memory bandwidth: an in-place pass that reads four float32 arrays and writes three (the shape
  of an Adam step, 28 bytes per element), parallel Numba on CPU or a CUDA kernel on GPU, in GB/s.
- BLAS: which OpenBLAS kernel set NumPy's BLAS runs (its GEMM rate depends on it; an
  ``OPENBLAS_CORETYPE`` in the environment overrides OpenBLAS's own CPU detection).
"""
import ctypes
import glob
import math
import os

import numpy as np
from numba import njit, prange

from kernels.bench.common import BLAS_SETTLE_S, median_time
from kernels.cuda._launch import cuda, kernel, launch


@njit(parallel=True, cache=True)
def _inplace_pass(p, g, m, v):
    for i in prange(p.size):
        gi = g[i]
        mi = 0.9 * m[i] + 0.1 * gi
        vi = 0.999 * v[i] + 0.001 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= 0.001 * mi / (np.sqrt(vi) + 1e-8)


@kernel(dtypes=("float32",))  # the roof is measured on float32 arrays only
def _cuda_inplace_kernel(p, g, m, v):
    i = cuda.grid(1)
    if i < p.size:
        f = p.dtype.type  # constants in the arrays' dtype: float literals would compute in float64
        gi = g[i]
        mi = f(0.9) * m[i] + f(0.1) * gi
        vi = f(0.999) * v[i] + f(0.001) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= f(0.001) * mi / (math.sqrt(vi) + f(1e-8))


def cuda_inplace_pass(p, g, m, v):
    """The in-place pass on the device (CuPy arrays; NumPy arrays in simulator mode)."""
    launch(_cuda_inplace_kernel, p.size, p, g, m, v)


def openblas_core():
    """The kernel set ("core") of the OpenBLAS NumPy loaded, e.g. 'SkylakeX' or 'Haswell'; None when NumPy
    uses another BLAS or the library cannot be asked."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(libs):
        try:
            lib = ctypes.CDLL(path)  # NumPy loaded it already: the same library, not a second copy
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                       "openblas_get_corename"):
            get = getattr(lib, symbol, None)
            if get is not None:
                get.restype = ctypes.c_char_p
                return get().decode()
    return None


def blas_note():
    """A line naming NumPy's OpenBLAS kernel set, and the environment variable that forced it, if any."""
    core = openblas_core()
    if core is None:
        return "BLAS: not OpenBLAS, or its kernel set is unknown"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    why = f" (forced by OPENBLAS_CORETYPE={forced})" if forced else " (OpenBLAS's own CPU detection)"
    return f"BLAS: OpenBLAS, {core} kernels{why}"


def measure(device="cpu", quick=False):
    """Return {'GFLOP/s': gemm_rate, 'GB/s': inplace_bandwidth} for the device."""
    if device == "cuda":
        from kernels.cuda._launch import SIMULATOR, xp
        if SIMULATOR:
            return {"GFLOP/s": None, "GB/s": None}
    else:
        xp = np
    n_gemm = 1024 if quick else 2048
    a = xp.ones((n_gemm, n_gemm), dtype=xp.float32)
    b = xp.ones((n_gemm, n_gemm), dtype=xp.float32)
    t_gemm = median_time(lambda: a @ b, device)
    n = 4_000_000 if quick else 16_000_000
    p, g, m, v = (xp.full(n, 0.5, dtype=xp.float32) for _ in range(4))
    if device == "cuda":
        t_bw = median_time(lambda: cuda_inplace_pass(p, g, m, v), device)
    else:
        t_bw = median_time(lambda: _inplace_pass(p, g, m, v), device, settle=BLAS_SETTLE_S)  # after the GEMM
    return {"GFLOP/s": 2 * n_gemm ** 3 / t_gemm / 1e9, "GB/s": 28 * n / t_bw / 1e9}
