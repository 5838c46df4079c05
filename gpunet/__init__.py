"""gpunet: a small deep-learning framework whose public API is a faithful subset of PyTorch's.

    import gpunet as torch

Tensors with autograd on NumPy (CPU) or CuPy + Numba CUDA kernels (GPU); see README.md.
"""
from gpunet._missing import missing_attribute as _missing_attribute
import builtins as _builtins
import operator as _operator

from gpunet import backend as _backend  # noqa: F401  (imports kernels first: simulator switch)
from gpunet.backend import Device as device  # noqa: F401
from gpunet.dtypes import (bool_ as bool, float16, float32, float64, get_default_dtype, int8, int16,  # noqa: F401
                           int32, int64, set_default_dtype, uint8)
from gpunet.dtypes import dtype as _dtype
from gpunet.tensor import Size, Tensor  # noqa: F401
from gpunet import ops  # noqa: F401  (binds Tensor's operators and methods)
from gpunet import autograd  # noqa: F401
from gpunet.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from gpunet.autograd.grad_mode import is_inference_mode_enabled  # noqa: F401
from gpunet.autograd import functional as _autograd_functional  # noqa: F401,E402  (torch.autograd.functional)
from gpunet.random import Generator, initial_seed, manual_seed, seed  # noqa: F401
from gpunet import amp, cuda  # noqa: F401
from gpunet.amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: F401
from gpunet.ops.creation import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor,  # noqa: F401
                                 HalfTensor, IntTensor, LongTensor, ShortTensor, arange, as_tensor, asarray,
                                 bernoulli, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
                                 linspace, logspace, multinomial, normal, ones, ones_like, rand, rand_like,
                                 randint, randint_like, randn, randn_like, randperm, tensor, zeros,
                                 zeros_like)
from gpunet.ops.elementwise import (abs, absolute, add, addcdiv, addcmul, allclose, ceil, clamp,  # noqa: F401
                                    clamp_max, clamp_min, clip, cos, div, divide, eq, equal, erf, exp, expm1,
                                    fix, floor, floor_divide, fmod, ge, greater, greater_equal, gt, isclose,
                                    isfinite, isinf, isnan, le, lerp, less, less_equal, log, log1p, log2,
                                    log10, logical_and, logical_not, logical_or, logical_xor, lt, maximum,
                                    minimum, mul, multiply, ne, neg, negative, not_equal, pow, reciprocal,
                                    relu, remainder, round, rsqrt, sigmoid, sign, sin, sqrt, square, sub,
                                    subtract, tan, tanh, true_divide, trunc)
from gpunet.ops.elementwise import deg2rad, exp2, logit, rad2deg  # noqa: F401
from gpunet.ops.elementwise import sign as sgn  # noqa: F401  (for real tensors)
from gpunet.ops.trigonometric import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,  # noqa: F401
                                      arctanh, asin, asinh, atan, atan2, atanh, cosh, hypot, sinh)
from gpunet.ops.creation import tril_indices, triu_indices  # noqa: F401
from gpunet.ops.reduce import cumprod  # noqa: F401
from gpunet.ops.composed_shape import atleast_1d, atleast_2d, atleast_3d, diff, meshgrid  # noqa: F401
from gpunet.ops.shape import movedim as moveaxis  # noqa: F401
from gpunet.ops.einsum import einsum  # noqa: F401
from gpunet.ops.linalg_decomp import det, logdet, slogdet  # noqa: F401
from gpunet.ops.linalg_decomp import inv as inverse  # noqa: F401
from gpunet.ops.linalg import addmm, baddbmm, bmm, dot, ger, inner, matmul, mm, mv, outer  # noqa: F401
from gpunet.ops.reduce import (all, amax, amin, any, argmax, argmin, count_nonzero, cumsum, logsumexp,  # noqa: F401
                               max, mean, min, norm, prod, std, std_mean, sum, var, var_mean)
from gpunet.ops.indexing import (gather, index_select, masked_fill, masked_select, nonzero, scatter,  # noqa: F401
                                 scatter_add, tril, triu, where)
from gpunet.ops.shape import (broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate,  # noqa: F401
                              flatten, flip, hstack, movedim, narrow, permute, reshape, roll, select, split,
                              squeeze, stack, swapaxes, swapdims, t, tile, transpose, unbind, unflatten,
                              unsqueeze, vstack)
from gpunet.ops import softmax as _softmax
from gpunet.ops.sorting import argsort, sort, topk  # noqa: F401
from gpunet.serialization import load, save  # noqa: F401
from gpunet import accelerator, backends, compiler, jit, linalg, nn, onnx, optim, utils  # noqa: F401
from gpunet.compiler import compile  # noqa: F401  (torch.compile, as torch.compiler.compile)
from gpunet import distributions  # noqa: F401
from gpunet._torch_alias import as_torch  # noqa: F401
from gpunet.utils import data as _data  # noqa: F401  (gpunet.utils.data, as torch.utils.data)

float = float32  # noqa: A001  (torch.float)
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
# gpunet.dtype, bound by assignment: softmax's `dtype=` parameter would otherwise shadow an import (F811)
dtype = _dtype


def is_tensor(obj):
    return isinstance(obj, Tensor)


def softmax(input, dim, dtype=None):
    return _softmax.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    return _softmax.log_softmax(input, dim, dtype=dtype)


def is_floating_point(input):
    return input.is_floating_point()


def is_complex(input):
    return input.is_complex()


def is_signed(input):
    return input.is_signed()


def is_nonzero(input):
    return input.is_nonzero()


def is_same_size(input, other):
    return input.is_same_size(other)


def is_inference(input):
    return input.is_inference()


def is_conj(input):
    return input.is_conj()


def is_neg(input):
    return input.is_neg()


def is_distributed(input):
    return input.is_distributed()


def is_storage(obj):
    """False: gpunet has no Storage objects (a tensor holds its array directly)."""
    return False


def numel(input):
    return input.numel()


def set_num_threads(num_threads):
    """Threads for gpunet's parallel CPU kernels (Numba), capped at Numba's pool size; BLAS keeps its own."""
    import numba
    n = _operator.index(num_threads)
    if n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    numba.set_num_threads(_builtins.min(n, numba.config.NUMBA_NUM_THREADS))


def get_num_threads():
    import numba
    return numba.get_num_threads()


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded for `are_deterministic_algorithms_enabled()`; it changes no kernel. gpunet's CPU ops give
    the same bits run after run; on CUDA, max-pooling's backward and scatter-adds (cupyx.scatter_add:
    embedding, index and gather backwards) accumulate with atomic adds, whose float rounding may differ
    between runs, and PyTorch's error for such ops under this flag is not raised."""
    _deterministic.update(mode=_builtins.bool(mode), warn_only=_builtins.bool(warn_only))


def are_deterministic_algorithms_enabled():
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_printoptions(**kwargs):
    """Accepted for compatibility; gpunet's printing follows PyTorch's defaults."""


__version__ = "0.1.0"

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
