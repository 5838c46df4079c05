"""Standalone array kernels for gpunet: conv, pooling, softmax / cross entropy and fused optimizer updates.

``kernels.cpu`` (NumPy / Numba) and ``kernels.cuda`` (Numba CUDA on CuPy arrays) expose the
same function names and signatures. This package never imports gpunet.

Simulator mode: with ``GPUNET_CUDA_SIM=1`` in the environment, ``kernels.cuda`` runs every
kernel in Numba's CUDA simulator on NumPy arrays. Numba reads ``NUMBA_ENABLE_CUDASIM`` when it is
first imported, so the switch is made here, before anything imports numba.
"""
import os
import sys

# Numba's threading layer, unless the user names one (NUMBA_THREADING_LAYER): TBB where the tbb package is
# installed (a dependency on x86-64 Linux and Windows), else workqueue, OpenMP last. Measured here: TBB
# wakes its pool in ~2 us and its idle threads do not spin; workqueue takes ~85-120 us per parallel call;
# OpenMP (Numba's choice without TBB) wakes in ~1 us but its threads keep spinning after each kernel and
# starved the BLAS threads of the GEMM that follows (LeNet training ran 6x slower). TBB is also thread-
# and fork-safe; workqueue kernels must not be called from several Python threads at once.
if "NUMBA_THREADING_LAYER" not in os.environ:
    _priority = os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "tbb workqueue omp")
    if "numba" in sys.modules:
        sys.modules["numba"].config.THREADING_LAYER_PRIORITY = _priority.split()


def _load_tbb_from_prefix():
    # The tbb wheel puts libtbb.so.12 in <prefix>/lib. The loader finds it there only through the Python
    # binary's rpath, which in a venv names the base install, not the venv: Numba would then fall back to
    # workqueue without a word. Loaded here by path, the library is found by its soname when Numba's TBB
    # layer asks for it.
    path = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if sys.platform.startswith("linux") and os.path.exists(path):
        import ctypes
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError:  # a broken install: Numba reports what it can and falls back
            pass


if os.environ.get("NUMBA_THREADING_LAYER", "tbb") == "tbb":
    _load_tbb_from_prefix()


def _wide_vectors():
    # LLVM's tuning for Intel's AVX-512 server cores prefers 256-bit vectors (Skylake-era cores lowered
    # their clock for 512-bit ones), so Numba compiles our loops to 8 float32 lanes where the CPU has 16;
    # PyTorch's CPU kernels and OpenBLAS's SkylakeX GEMM use the 512-bit ones there. On an Intel Xeon
    # (Emerald Rapids, 2 vCPUs), 301,056 float32 elements: GELU 177-311 -> 123-220 us, SiLU 133-181 ->
    # 92-122, sigmoid 141-176 -> 87-134, softmax of (700, 9408) 5.1-5.8 -> 3.0-4.1 ms, ReLU (memory-bound)
    # unchanged. So where the host has AVX-512 and the user has not chosen Numba's CPU target
    # (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES), compile for the host's features without that preference. Numba
    # reads the variable when its CPU target starts (its first compilation), and keys its on-disk cache by
    # the features, so the two kinds of code never mix.
    if "NUMBA_CPU_NAME" in os.environ or "NUMBA_CPU_FEATURES" in os.environ:
        return
    try:
        from llvmlite import binding
        features = binding.get_host_cpu_features()
    except Exception:  # an llvmlite that cannot read the host: Numba's defaults
        return
    if features.get("avx512f"):
        os.environ["NUMBA_CPU_FEATURES"] = features.flatten() + ",-prefer-256-bit"
        if "numba" in sys.modules:
            sys.modules["numba"].config.CPU_FEATURES = os.environ["NUMBA_CPU_FEATURES"]


_wide_vectors()

if os.environ.get("GPUNET_CUDA_SIM", "") not in ("", "0"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba" in sys.modules and "numba.cuda" not in sys.modules:
        # numba was imported first (e.g. by a tool); numba.cuda reads the config when it is imported
        sys.modules["numba"].config.ENABLE_CUDASIM = 1


def simulator_enabled():
    """True when CUDA kernels run in Numba's simulator (``GPUNET_CUDA_SIM=1``)."""
    if "numba.cuda" in sys.modules:
        return bool(sys.modules["numba"].config.ENABLE_CUDASIM)
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")
