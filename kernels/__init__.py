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
