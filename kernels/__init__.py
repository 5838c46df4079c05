"""Standalone array kernels for gpunet: conv, pooling and fused optimizer updates.

``kernels.cpu`` (NumPy / Numba) and ``kernels.cuda`` (Numba CUDA on CuPy arrays) expose the
same function names and signatures. This package never imports gpunet.

Simulator mode: with ``GPUNET_CUDA_SIM=1`` in the environment, ``kernels.cuda`` runs every
kernel in Numba's CUDA simulator on NumPy arrays. Numba reads ``NUMBA_ENABLE_CUDASIM`` when it is
first imported, so the switch is made here, before anything imports numba.
"""
import os
import sys

# Numba's default OpenMP layer leaves its threads spinning after each parallel kernel, which starves
# the BLAS threads of the GEMM that usually comes next (LeNet training ran 6x slower here). The
# workqueue layer's threads sleep instead. It must be chosen before the first parallel launch; an
# explicit NUMBA_THREADING_LAYER from the user wins. (Workqueue kernels must not be called from
# several Python threads at once; DataLoader workers are processes, so they are fine.)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
if "numba" in sys.modules:
    sys.modules["numba"].config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]

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
