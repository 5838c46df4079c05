"""Kernels that kernels.compile_check must judge: one clean float32 kernel and one per kind of finding.

Plain functions (no cuda.jit): tests/kernels/test_compile_check.py compiles them in a subprocess with the
simulator off, through the same check() as the real kernels, with the signature (float32[::1],
float32[::1], int64).
"""
import math

from numba import cuda, float32


def clean(x, out, n):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] / x.dtype.type(n) + math.sqrt(x[i]) * x.dtype.type(0.5)


def int_divisor(x, out, n):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] / n  # float32 / int64 divides in float64 (the avg_pool2d bug)


def float_literal(x, out, n):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = 0.5 * x[i] ** 0.5  # float64 constant and pow


def local_array(x, out, n):
    i = cuda.grid(1)
    if i < x.size:
        window = cuda.local.array(32, float32)  # indexed at run time: lives in local memory
        for j in range(32):
            window[j] = x[(i + j) % x.size]
        out[i] = window[n % 32]


def does_not_compile(x, out, n):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] + "one"
