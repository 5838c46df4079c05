"""The machine's ceilings, measured in the same run as the kernels they judge.

- GEMM rate: float32 square matmul through BLAS (CPU) or cuBLAS (CUDA), in GFLOP/s.
- Memory bandwidth: an in-place pass that reads four float32 arrays and writes three (the shape
  of an Adam step, 28 bytes per element), parallel Numba on CPU or a CUDA kernel on GPU, in GB/s.
"""
import numpy as np
from numba import njit, prange

from kernels.bench.common import median_time


@njit(parallel=True, cache=True)
def _inplace_pass(p, g, m, v):
    for i in prange(p.size):
        gi = g[i]
        mi = 0.9 * m[i] + 0.1 * gi
        vi = 0.999 * v[i] + 0.001 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= 0.001 * mi / (np.sqrt(vi) + 1e-8)


def _cuda_inplace_kernel():
    from numba import cuda

    @cuda.jit(cache=True)
    def inplace_pass(p, g, m, v):
        i = cuda.grid(1)
        if i < p.size:
            gi = g[i]
            mi = 0.9 * m[i] + 0.1 * gi
            vi = 0.999 * v[i] + 0.001 * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] -= 0.001 * mi / (vi ** 0.5 + 1e-8)
    return inplace_pass


def measure(device="cpu", quick=False):
    """Return {'GFLOP/s': gemm_rate, 'GB/s': inplace_bandwidth} for the device."""
    if device == "cuda":
        from kernels.cuda._launch import SIMULATOR, launch, xp
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
        kernel = _cuda_inplace_kernel()
        t_bw = median_time(lambda: launch(kernel, n, p, g, m, v), device)
    else:
        t_bw = median_time(lambda: _inplace_pass(p, g, m, v), device)
    return {"GFLOP/s": 2 * n_gemm ** 3 / t_gemm / 1e9, "GB/s": 28 * n / t_bw / 1e9}
