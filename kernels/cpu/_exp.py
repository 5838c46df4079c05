"""exp(x) that LLVM vectorises, for the CPU softmax kernels: ``vexp(x)`` inside an @njit loop.

Numba calls libm's scalar exp for ``math.exp`` (no SVML here), one element at a time: the log_softmax of
a 700 x 9,408 matrix spent 20 ms there against 2.5 ms for PyTorch. vexp is plain arithmetic that LLVM
turns into AVX2/AVX-512 code: n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two, Cody-Waite, so r
is exact), exp(r) by a polynomial on |r| <= ln(2) / 2 (float32: 1 + r + r^2 q(r), q of degree 4 fitted for
the least relative error, 4.7e-9; float64: Taylor's of degree 13; below a tenth of an ulp), times 2**n by
adding n to the polynomial's exponent bits (exact, one integer add: every result kept is a normal float,
since p < 1 when n is the largest exponent, 128 in float32, and smaller results are flushed below). (Not
by llvm.ldexp, as exp_log's exp: inlined into GELU's loop it stopped LLVM vectorising the serial twin, 15x
slower.)
Measured: within 0.89 ulp of exp on [-87.3, 88.7] in float32 (3 million points; 0.93 with the Taylor
polynomial of degree 7 it replaced) and within 2 ulp in float64.
Edge cases: exp(-inf) = 0 and exp(NaN) = NaN, as libm; results that would be subnormal flush to 0 (below
1.2e-38 in float32: nothing a softmax can see, every row sums to at least 1); overflow gives inf.

``vexpm1(x)``, exp(x) - 1 (ELU's negative branch), keeps its relative accuracy near 0, where exp(x) - 1
cancels: below |x| = 1/2 it is the Taylor polynomial x + x^2/2 + ... (to x^9 / 9! in float32, x^15 / 15!
in float64: truncation below a fifth of an ulp), above it exp(x) - 1, which loses at most 1.3 bits there
(|exp(x) / (exp(x) - 1)| <= 2.6). Both are computed and one kept (a select, so the loop vectorises).

vexp is compiled with fastmath={"contract"} only (fused multiply-adds): "reassoc" would let LLVM fold the
two halves of ln 2 back into one and lose the exact reduction. A caller may use "reassoc" for its own sums:
Numba compiles vexp as its own function (flags are per instruction) and LLVM inlines it after.
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

__all__ = ["exp_of_sum32", "vexp", "vexpm1"]


@intrinsic
def _float_from_bits(typingctx, bits, like):
    """The float (of like's type) whose IEEE bits are the low bits of the integer `bits`."""
    if not isinstance(bits, types.Integer) or like not in (types.float32, types.float64):
        return None
    width = 32 if like == types.float32 else 64

    def codegen(context, builder, sig, args):
        value = args[0]
        if bits.bitwidth > width:
            value = builder.trunc(value, ir.IntType(width))
        elif bits.bitwidth < width:
            value = builder.sext(value, ir.IntType(width))
        return builder.bitcast(value, ir.FloatType() if width == 32 else ir.DoubleType())

    return like(bits, like), codegen


@intrinsic
def _bits_of(typingctx, value):
    """The IEEE bits of a float32/float64 as an int32/int64."""
    if value not in (types.float32, types.float64):
        return None
    int_type = types.int32 if value == types.float32 else types.int64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(int_type.bitwidth))

    return int_type(value), codegen


def vexp(x):
    """exp(x) (Python fallback: math.exp); see the module docstring."""
    return math.exp(x)


@register_jitable(fastmath={"contract"})
def _exp_parts32(x, lowest):
    """(n, p), float32: exp(x) = p 2**n, n = round(x / ln 2) clamped to [lowest, 128], p = exp(x - n ln 2)."""
    f = np.float32
    n = np.floor(x * f(1.4426950408889634) + f(0.5))
    n = min(max(n, lowest), f(128.0))
    return n, _exp_reduced32(x, n)


@register_jitable(fastmath={"contract"})
def _exp_reduced32(x, n):
    """exp(x - n ln 2) for a float32 x and an integral n near x / ln 2 (|x - n ln 2| <= ln(2) / 2)."""
    f = np.float32
    r = x - n * f(0.693359375)  # ln 2 = 0.693359375 - 2.12194440e-4 (the first part exact in 9 bits)
    return _exp_near_zero32(r - n * f(-2.12194440e-4))


@register_jitable(fastmath={"contract"})
def _exp_near_zero32(r):
    """exp(r) for a float32 |r| <= ln(2) / 2."""
    f = np.float32
    # 1 + r + r^2 q(r), q of degree 4 fitted to (exp(r) - 1 - r) / r^2 for the least relative error: 4.7e-9
    # against 7.0e-9 for the Taylor polynomial of degree 7, one multiply-add fewer
    p = f(0.0013798604486510158)
    p = p * r + f(0.008368724025785923)
    p = p * r + f(0.04166867583990097)
    p = p * r + f(0.1666652113199234)
    p = p * r + f(0.49999991059303284)
    p = p * r + f(1.0)
    return p * r + f(1.0)


@register_jitable(fastmath={"contract"})
def exp_of_sum32(x, c):
    """exp(x + c), float32, for -87 <= x <= 0 and a c too small beside x for x + c to keep it (a computed
    x's rounding error): c joins the reduced argument, which is small. No edge tests (x < -87 would give a
    result that is not a float): the caller keeps x in range and selects its own values beyond."""
    f = np.float32
    n = np.floor(x * f(1.4426950408889634) + f(0.5))
    r = x - n * f(0.693359375)
    p = _exp_near_zero32((r - n * f(-2.12194440e-4)) + c)
    return _float_from_bits(_bits_of(p) + (np.int32(n) << np.int32(23)), f(0.0))  # p * 2**n


def _exp32(x):
    f = np.float32
    n, p = _exp_parts32(x, f(-127.0))
    v = _float_from_bits(_bits_of(p) + (np.int32(n) << np.int32(23)), f(0.0))  # p * 2**n
    v = f(0.0) if x < f(-87.33654) else v
    v = f(np.inf) if x > f(88.72283) else v
    return x if x != x else v  # NaN: the bit sum is not one


def _exp64(x):
    f = np.float64
    n = np.floor(x * 1.4426950408889634 + 0.5)
    n = min(max(n, -1023.0), 1024.0)
    r = x - n * 6.93147180369123816490e-01  # ln 2 in two parts, the first with 21 trailing zero bits
    r = r - n * 1.90821492927058770002e-10
    p = f(1.0 / 6227020800.0)
    for k in (479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0,
              2.0, 1.0, 1.0):
        p = p * r + 1.0 / k
    v = _float_from_bits(_bits_of(p) + (np.int64(n) << np.int64(52)), 0.0)  # p * 2**n
    v = 0.0 if x < -708.3964185322641 else v
    v = np.inf if x > 709.782712893384 else v
    return x if x != x else v


@overload(vexp, jit_options={"fastmath": {"contract"}})
def _vexp(x):
    if x == types.float32:
        return _exp32
    if x == types.float64:
        return _exp64
    return None


def vexpm1(x):
    """exp(x) - 1 (Python fallback: math.expm1); see the module docstring."""
    return math.expm1(x)


def _expm1_32(x):
    f = np.float32
    # the Taylor polynomial's tail, written out (a loop over a tuple of coefficients can stop vectorising)
    p = f(1.0 / 362880.0)
    p = p * x + f(1.0 / 40320.0)
    p = p * x + f(1.0 / 5040.0)
    p = p * x + f(1.0 / 720.0)
    p = p * x + f(1.0 / 120.0)
    p = p * x + f(1.0 / 24.0)
    p = p * x + f(1.0 / 6.0)
    p = p * x + f(0.5)
    small = x if x == f(0.0) else x + (x * x) * p  # -0.0 kept (the sum would give +0.0)
    return small if abs(x) < f(0.5) else vexp(x) - f(1.0)  # NaN takes exp's branch and stays NaN


def _expm1_64(x):
    p = 1.0 / 1307674368000.0
    p = p * x + 1.0 / 87178291200.0
    p = p * x + 1.0 / 6227020800.0
    p = p * x + 1.0 / 479001600.0
    p = p * x + 1.0 / 39916800.0
    p = p * x + 1.0 / 3628800.0
    p = p * x + 1.0 / 362880.0
    p = p * x + 1.0 / 40320.0
    p = p * x + 1.0 / 5040.0
    p = p * x + 1.0 / 720.0
    p = p * x + 1.0 / 120.0
    p = p * x + 1.0 / 24.0
    p = p * x + 1.0 / 6.0
    p = p * x + 0.5
    small = x if x == 0.0 else x + (x * x) * p
    return small if abs(x) < 0.5 else vexp(x) - 1.0


@overload(vexpm1, jit_options={"fastmath": {"contract"}})
def _vexpm1(x):
    if x == types.float32:
        return _expm1_32
    if x == types.float64:
        return _expm1_64
    return None
