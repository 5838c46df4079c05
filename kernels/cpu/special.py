"""Special functions NumPy lacks (erf, for GELU and the normal CDF), compiled with Numba.

Numba calls libm's scalar erf one element at a time (no vector erf without SVML): GELU on 301,056
float32 elements spent 2.3 ms there against PyTorch's 0.12 ms. For float32, ``verf`` is a polynomial
that LLVM vectorises: erf(x) = x * P(u) with u = 2 x^2 / 3.92^2 - 1, P of degree 18, evaluated in float64.
P is the Chebyshev interpolant of erf(x) / x (an even, entire function, so a polynomial in x^2 keeps
the relative error small near 0 too) at 4,000 nodes on 0 <= x <= 3.92, turned into powers of u; its
relative error is 3e-10, so the float32 result is erf rounded to float32 or its neighbour (measured: at
most 1 ulp from the correctly rounded value, 0.13-0.17% of inputs off by one, tests/kernels/test_special.py).
For |x| >= 3.92, erf(x) rounds to +-1 in float32. float64 keeps libm's erf.

GELU (x Phi(x)) and its derivative (Phi(x) + x phi(x)) in float32 do not go through erf: 1 + erf(x / sqrt 2)
loses Phi's relative accuracy for negative x (at x = -5 Phi is 3e-7, below erf's rounding near -1; from
x = -5.55 erf rounds to -1 and Phi to 0), and the float64 polynomial runs on 8 lanes. ``cdf_and_pdf``
instead computes, in float32 on 16 lanes, the tail T(a) = Phi(-a) for a = |x|, as
T(a) = exp(-a^2 / 2) t S(t) with t = 1 / (1 + 0.34 a), so that Phi(x) = 1 - T(|x|) for x >= 0 and T(|x|)
below, and phi(x) = exp(-a^2 / 2) / sqrt(2 pi) reuses the exp. S is the Chebyshev interpolant of
T(a) exp(a^2 / 2) / t (smooth on 0 < t <= 1, S(1) = 1/2) at 3,000 nodes for 0 <= a <= 13.2 (beyond it
the exp is 0 in float32), turned into powers of t: degree 8, relative error 3.3e-8 (degree 7 reaches
only 1.7e-7). a^2 is taken exactly as h + e, e = fma(a, a, -h), and e joins the exp's reduced argument
(kernels/cpu/_exp.py's exp_of_sum32), so that the exp's argument carries no rounding error (it was 4e-6
of GELU at x = -11.8 without). That exp has no edge tests: its argument is clamped to -87 and the density
taken as 0 past a = 13.19 (where it is below 7e-39), which also covers a * a overflowing from a = 1.8e19
(GELU and its derivative were NaN there). Measured against float64 over -14 <= x <= 14: GELU's relative
error at most 3.8e-7 where Phi(x) is a normal float, x >= -12.95 (the negative tail included; the erf
route lost everything below -5.55), 8.4e-7 below, where Phi is subnormal and GELU's result still normal
(to x = -13.15); its derivative within 2.0e-7. float64 keeps libm's erf and vexp's exp.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from kernels.cpu._exp import exp_of_sum32, vexp
from kernels.cpu._serial import by_size

__all__ = ["erf", "gelu", "gelu_backward", "gelu_tanh", "gelu_tanh_backward"]

_ERF_EDGE = 3.92
_ERF_U_SCALE = 2.0 / (_ERF_EDGE * _ERF_EDGE)
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


def verf(x):
    """erf(x) inside an @njit loop (Python fallback: math.erf); see the module docstring."""
    return math.erf(x)


@njit(cache=True, fastmath={"contract"})
def _erf_polynomial(d):
    """erf of a float64 to float32 accuracy (relative error 3e-10): x * P(u), +-1 beyond the edge."""
    u = d * d * _ERF_U_SCALE - 1.0
    # P(u), highest power first, written out: a loop over a tuple of coefficients stops LLVM vectorising
    p = 5.975969807025072e-05
    p = p * u + -0.0001570818704985701
    p = p * u + 0.00012482223572471364
    p = p * u + -0.00027167397101944904
    p = p * u + 0.001057117126192499
    p = p * u + -0.0022135743930469212
    p = p * u + 0.0038698211906944965
    p = p * u + -0.00708563658421003
    p = p * u + 0.012478359757936184
    p = p * u + -0.020191207128772676
    p = p * u + 0.030520329298042374
    p = p * u + -0.04341361920883601
    p = p * u + 0.05818765616319319
    p = p * u + -0.07401727232524427
    p = p * u + 0.09062254178430126
    p = p * u + -0.1091798984260435
    p = p * u + 0.13408337271462162
    p = p * u + -0.1801086029236027
    p = p * u + 0.36073682019533454
    r = d * p
    if abs(d) >= _ERF_EDGE:  # NaN fails this and stays NaN through the polynomial
        r = 1.0 if d > 0 else -1.0
    return r


def _erf32(x):
    return np.float32(_erf_polynomial(np.float64(x)))


def _erf64(x):
    return math.erf(x)


@overload(verf, jit_options={"fastmath": {"contract"}})
def _verf(x):
    if x == types.float32:
        return _erf32
    if x == types.float64:
        return _erf64
    return None


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (LLVM's fma: one instruction with FMA hardware)."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fma = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fma, args)

    return a(a, b, c), codegen


def cdf_and_pdf(x):
    """(Phi(x), phi(x)), the standard normal CDF and density, inside an @njit loop (see the module
    docstring)."""
    return 0.5 + 0.5 * math.erf(x * _INV_SQRT_2), math.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _cdf_and_pdf32(x):
    f = np.float32
    a = abs(x)
    t = f(1) / (f(1) + f(0.34) * a)
    # S(t), highest power first, written out (a loop over a tuple stops LLVM vectorising)
    s = f(-0.027110386172550505)
    s = s * t + f(0.14404129997001555)
    s = s * t + f(-0.2819379045915027)
    s = s * t + f(0.21157390927545802)
    s = s * t + f(-0.05072589401250735)
    s = s * t + f(0.1177118705751486)
    s = s * t + f(0.11464831554976568)
    s = s * t + f(0.13618196892905207)
    s = s * t + f(0.1356168168333685)
    h = a * a
    # exp(-(h + e) / 2), e = fma(a, a, -h) the rounding error of h; 0 beyond a = 13.19 (exp(-87))
    gauss = exp_of_sum32(max(f(-0.5) * h, f(-87.0)), f(-0.5) * _fma(a, a, -h))
    gauss = f(0) if a > f(13.19) else gauss  # (h and e are inf from a = 1.8e19)
    tail = gauss * (t * s)
    cdf = f(1) - tail if x >= f(0) else tail  # NaN takes the tail, which is NaN
    return cdf, gauss * f(_INV_SQRT_2PI)


def _cdf_and_pdf64(x):
    return 0.5 + 0.5 * math.erf(x * _INV_SQRT_2), vexp(-0.5 * x * x) * _INV_SQRT_2PI


@overload(cdf_and_pdf, jit_options={"fastmath": {"contract"}, "error_model": "numpy"})
def _cdf_and_pdf(x):
    if x == types.float32:
        return _cdf_and_pdf32
    if x == types.float64:
        return _cdf_and_pdf64
    return None


@by_size(cost=8, fastmath={"contract"})
def _erf_loop(x, out):
    for i in prange(x.size):
        out[i] = verf(x[i])


@by_size(cost=8, fastmath={"contract"}, error_model="numpy")
def _gelu(x, out):
    for i in prange(x.size):
        v = x[i]
        cdf, _ = cdf_and_pdf(v)
        out[i] = v * cdf


@by_size(cost=8, fastmath={"contract"}, error_model="numpy")
def _gelu_backward(g, x, grad):
    for i in prange(x.size):
        v = x[i]
        cdf, pdf = cdf_and_pdf(v)
        grad[i] = g[i] * (cdf + v * pdf)


# GELU's tanh form, 0.5 x (1 + tanh(z)) with z = sqrt(2 / pi) (x + 0.044715 x^3), is x sigmoid(2 z) (as
# 1 + tanh(z) = 2 sigmoid(2 z)): one exp and no cancellation where tanh(z) nears -1 (the tanh form loses
# all but 12 bits of 1 + tanh(z) at x = -5 in float32). Its derivative, with s = sigmoid(2 z):
# s + 2 x s (1 - s) sqrt(2 / pi) (1 + 3 * 0.044715 x^2).
_GELU_TANH_K = -2.0 * math.sqrt(2.0 / math.pi)  # sigmoid(2 z) = 1 / (1 + exp(K (x + 0.044715 x^3)))


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _gelu_tanh(x, out, k, c, one):
    for i in prange(x.size):
        v = x[i]
        out[i] = v * (one / (one + vexp(k * (v + c * (v * v * v)))))


@by_size(cost=4, fastmath={"contract"}, error_model="numpy")
def _gelu_tanh_backward(g, x, grad, k, c, c3, one):
    for i in prange(x.size):
        v = x[i]
        s = one / (one + vexp(k * (v + c * (v * v * v))))
        grad[i] = g[i] * (s - v * s * (one - s) * k * (one + c3 * (v * v)))


def _float_loop_input(x):
    """x as a flat contiguous float32/float64 array (float16 and others in float32) and its dtype."""
    flat = x.reshape(-1)
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float32)
    return np.ascontiguousarray(flat), x.dtype


def erf(x):
    """Elementwise error function of a float array (float16 computed in float32)."""
    flat, dtype = _float_loop_input(x)
    out = np.empty_like(flat)
    _erf_loop(flat, out)  # a loop, not a ufunc: NaN inputs raise no floating-point warning
    return out.reshape(x.shape).astype(dtype, copy=False)


def gelu(x):
    """x * Phi(x) (GELU, exact form): a new array of x's shape and dtype."""
    flat, dtype = _float_loop_input(x)
    out = np.empty_like(flat)
    _gelu(flat, out)
    return out.reshape(x.shape).astype(dtype, copy=False)


def gelu_backward(grad_output, x):
    """GELU's input gradient from its input: grad_output * (Phi(x) + x * phi(x)), one pass."""
    flat, dtype = _float_loop_input(x)
    g = np.ascontiguousarray(grad_output.reshape(-1), dtype=flat.dtype)
    grad = np.empty_like(flat)
    _gelu_backward(g, flat, grad)
    return grad.reshape(x.shape).astype(dtype, copy=False)


def gelu_tanh(x):
    """GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), one pass."""
    flat, dtype = _float_loop_input(x)
    out = np.empty_like(flat)
    t = flat.dtype.type
    _gelu_tanh(flat, out, t(_GELU_TANH_K), t(0.044715), t(1))
    return out.reshape(x.shape).astype(dtype, copy=False)


def gelu_tanh_backward(grad_output, x):
    """The tanh approximation's input gradient from its input, one pass."""
    flat, dtype = _float_loop_input(x)
    g = np.ascontiguousarray(grad_output.reshape(-1), dtype=flat.dtype)
    grad = np.empty_like(flat)
    t = flat.dtype.type
    _gelu_tanh_backward(g, flat, grad, t(_GELU_TANH_K), t(0.044715), t(3 * 0.044715), t(1))
    return grad.reshape(x.shape).astype(dtype, copy=False)
