"""CUDA kernels: Numba @cuda.jit kernels launched on CuPy arrays (or NumPy arrays in simulator mode).

Same public names and signatures as kernels.cpu (tests/kernels/test_api.py proves it).
Importing this module never fails for lack of a GPU; launching says why it cannot run.
"""
from kernels.cuda._launch import available, unavailable_reason, xp  # noqa: F401
from kernels.cuda.conv import *  # noqa: F401,F403,E402
from kernels.cuda.pool import *  # noqa: F401,F403,E402
from kernels.cuda.optim import *  # noqa: F401,F403,E402
from kernels.cuda.special import *  # noqa: F401,F403,E402
from kernels.cuda.attention import *  # noqa: F401,F403,E402
from kernels.cuda.softmax import *  # noqa: F401,F403,E402
from kernels.cuda.activation import *  # noqa: F401,F403,E402
from kernels.cuda.normalize import *  # noqa: F401,F403,E402
from kernels.cuda.gemm import *  # noqa: F401,F403,E402
from kernels.cuda.arithmetic import *  # noqa: F401,F403,E402
from kernels.cuda.exp_log import *  # noqa: F401,F403,E402
from kernels.cuda.recurrent import *  # noqa: F401,F403,E402
from kernels.cuda.select import *  # noqa: F401,F403,E402
from kernels.cuda.regression import *  # noqa: F401,F403,E402
from kernels.cuda.softplus_family import *  # noqa: F401,F403,E402
from kernels.cuda.reduce import *  # noqa: F401,F403,E402
from kernels.cuda.topk import *  # noqa: F401,F403,E402
from kernels.cuda.scatter import *  # noqa: F401,F403,E402
