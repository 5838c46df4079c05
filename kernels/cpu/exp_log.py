"""exp and log of float32 arrays on the CPU: one vectorised Numba pass on all threads, more accurate than
NumPy's.

NumPy's float32 exp and log are SIMD loops on one thread, and not correctly rounded: over 6.5 million
random inputs its exp was up to 2.43 ulp from exp in float64 (39% of results differ from its rounding),
its log up to 3.47 ulp; PyTorch's (Sleef's) 0.57 and 0.54. At 301,056 elements (LeNet's first activation)
NumPy took 3.2x PyTorch's time for either (examples/benchmark_elementwise.py on an Intel Xeon, 2 vCPUs).
These loops are kernels.cpu._exp's vexp and kernels.cpu._log's vlog1p written out for the whole float32
range:

exp: n = round(x / ln 2), r = x - n ln 2 (Cody-Waite, exact), exp(r) by vexp's polynomial p (degree 6),
times 2**n by adding n to p's exponent bits. Results below the smallest normal float (x < -87.3) are not
flushed, as vexp flushes them: p gets 2**(n + 64) from its bits and is then multiplied by 2**-64, one
correctly rounded step into the subnormal numbers. With AVX-512 (SCALEF) p * 2**n is one
ldexp (vscalefps), which rounds into the subnormal numbers itself: the same bits, fewer instructions.
exp(x) = 0 below x = -104 (below half the smallest subnormal number), inf above 88.72283 (overflow), NaN
for NaN.
log: x = 2**k m with m in [sqrt(1/2), sqrt(2)) from its bits (a subnormal x first scaled by 2**23, exact),
f = m - 1 (exact), log(x) = k ln 2 + f - f^2 / 2 + f^3 q(f) with vlog1p's q; log(+-0) = -inf, log of a
negative number NaN, log(inf) = inf, NaN for NaN.
Measured against float64 exp / log of every float32 input (once): exp within 0.94 ulp, log within 0.79 ulp
(how, in tests/kernels/test_exp_log.py's docstring).

float64 and arrays under LOOP_FROM elements keep NumPy's call (vexp's float64 polynomial does not
vectorise; on small arrays NumPy's call is cheaper than a Numba dispatch), and so do views and other
dtypes. Compiled with fastmath={"contract"} only: "reassoc" would undo the exact reductions.
"""
import numpy as np
from llvmlite import binding, ir
from numba import prange, types
from numba.core import cgutils, config
from numba.extending import intrinsic, register_jitable

from kernels.cpu._exp import _bits_of, _exp_parts32, _exp_reduced32, _float_from_bits
from kernels.cpu._log import _log_of_split, _split
from kernels.cpu._serial import by_size

__all__ = ["exp", "log"]

LOOP_FROM = 8192  # elements

_OPTIONS = {"cost": 4, "fastmath": {"contract"}, "error_model": "numpy"}


def _compiles_for_avx512():
    """Whether Numba compiles for a CPU with AVX-512: the features kernels/__init__.py or the user set
    (NUMBA_CPU_FEATURES), else none for a named CPU (NUMBA_CPU_NAME, such as the tests' haswell), else the
    host's."""
    if config.CPU_FEATURES:
        return "+avx512f" in config.CPU_FEATURES.split(",")
    if config.CPU_NAME and config.CPU_NAME != "host":
        return False
    return bool(binding.get_host_cpu_features().get("avx512f"))


# Where Numba compiles for AVX-512, exp scales by 2**n with one ldexp: LLVM turns llvm.ldexp into
# vscalefps there, which also gives inf on overflow and a correctly rounded subnormal number or 0 below the
# normal range, so the selects for those cases go (float32, 65,536 elements in (-5, 5), one thread, AMD EPYC
# Zen 4: 0.326 -> 0.237 ns per element). Elsewhere LLVM would call libm's ldexpf once per element. Only in
# loops whose vectorisation a test checks (tests/kernels/test_vectorised.py): in a longer loop body
# (GELU's serial twin, with kernels.cpu._exp's vexp scaled so) LLVM's cost model left the whole loop
# scalar, 15x slower; vexp adds the exponent bits.
SCALEF = _compiles_for_avx512()


@intrinsic
def ldexp32(typingctx, p, n):
    """p * 2**n for a float32 p and an integral float32 n (llvm.ldexp; rounded once, inf on overflow)."""
    if p != types.float32 or n != types.float32:
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.FloatType(), [ir.FloatType(), ir.IntType(32)]),
            "llvm.ldexp.f32.i32")
        return builder.call(fn, [args[0], builder.fptosi(args[1], ir.IntType(32))])

    return types.float32(p, n), codegen


@register_jitable(fastmath={"contract"})
def _exp_from_bits(v):
    f, i32 = np.float32, np.int32
    n, p = _exp_parts32(v, f(-151.0))
    tiny = n <= f(-126.0)  # p * 2**n may be subnormal: its bits cannot hold that exponent
    e = _float_from_bits(_bits_of(p) + ((i32(n) + (i32(64) if tiny else i32(0))) << i32(23)), f(0.0))
    e = e * (f(5.421010862427522e-20) if tiny else f(1.0))  # 2**-64
    e = f(0.0) if v < f(-104.0) else e
    e = f(np.inf) if v > f(88.72283) else e
    return v if v != v else e


@register_jitable(fastmath={"contract"})
def _exp_scaled(v):
    # with AVX-512 (SCALEF): p * 2**n in one ldexp, rounded once into the subnormal
    # numbers, 0 below them and inf on overflow; v clamped so that n is a small integer (NaN passes)
    f = np.float32
    xc = f(-104.0) if v < f(-104.0) else v
    xc = f(89.0) if xc > f(89.0) else xc
    n = np.floor(xc * f(1.4426950408889634) + f(0.5))
    return ldexp32(_exp_reduced32(xc, n), n)


_exp_one = _exp_scaled if SCALEF else _exp_from_bits  # the same bits (tests/kernels/test_exp_log.py)


@by_size(**_OPTIONS)
def _exp(x, out):
    for i in prange(x.size):
        out[i] = _exp_one(x[i])


@by_size(**_OPTIONS)
def _log(x, out):
    f = np.float32
    for i in prange(x.size):
        v = x[i]
        subnormal = v < f(1.1754943508222875e-38)
        kf, m = _split(v * f(8388608.0) if subnormal else v)  # 2**23
        w = _log_of_split(kf - (f(23.0) if subnormal else f(0.0)), m, f(0.0))
        w = f(-np.inf) if v == f(0.0) else w
        w = f(np.nan) if v < f(0.0) else w
        out[i] = v if (v != v) | (v == f(np.inf)) else w


def _elementwise(loop_name, numpy_fn, doc):
    """The public function: the loop (this module's global `loop_name`) for a C-contiguous float32 array of
    LOOP_FROM elements or more, numpy_fn otherwise."""
    def op(a):
        # the size first: most calls are on small arrays, and comparing dtypes costs ~0.1 us
        if not (type(a) is np.ndarray and a.size >= LOOP_FROM and a.dtype.type is np.float32
                and a.flags.c_contiguous):
            return numpy_fn(a)
        out = np.empty_like(a)
        globals()[loop_name](a.reshape(-1), out.reshape(-1))
        return out

    op.__name__ = op.__qualname__ = loop_name.lstrip("_")
    op.__doc__ = doc
    return op


exp = _elementwise("_exp", np.exp, "np.exp(a); a large float32 array on the loop (within 1 ulp).")
log = _elementwise("_log", np.log, "np.log(a); a large float32 array on the loop (within 1 ulp).")
