"""CPU kernels: NumPy (im2col + BLAS GEMM) and Numba @njit where it is faster.

Same public names and signatures as kernels.cuda (tests/kernels/test_api.py proves it).
"""
import numpy as xp  # noqa: F401


def available():
    """kernels.cpu always runs."""
    return True


def unavailable_reason():
    return None

from kernels.cpu.conv import *  # noqa: F401,F403,E402
from kernels.cpu.pool import *  # noqa: F401,F403,E402
from kernels.cpu.optim import *  # noqa: F401,F403,E402
from kernels.cpu.special import *  # noqa: F401,F403,E402
from kernels.cpu.attention import *  # noqa: F401,F403,E402
from kernels.cpu.softmax import *  # noqa: F401,F403,E402
from kernels.cpu.activation import *  # noqa: F401,F403,E402
from kernels.cpu.normalize import *  # noqa: F401,F403,E402
from kernels.cpu.gemm import *  # noqa: F401,F403,E402
from kernels.cpu.arithmetic import *  # noqa: F401,F403,E402
from kernels.cpu.exp_log import *  # noqa: F401,F403,E402
from kernels.cpu.recurrent import *  # noqa: F401,F403,E402
from kernels.cpu.select import *  # noqa: F401,F403,E402
from kernels.cpu.regression import *  # noqa: F401,F403,E402
from kernels.cpu.softplus_family import *  # noqa: F401,F403,E402
from kernels.cpu.reduce import *  # noqa: F401,F403,E402
from kernels.cpu.topk import *  # noqa: F401,F403,E402
from kernels.cpu.scatter import *  # noqa: F401,F403,E402
