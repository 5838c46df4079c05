"""The CPU loops behind the elementwise ops are vectorised: their compiled code holds packed float32
instructions on AVX2 (ymm) or AVX-512 (zmm) registers, in the serial twin and in the threaded loop alike.

LLVM decides per loop, from its cost model, and a change inside a helper that a loop inlines can leave the
whole loop scalar without changing one result bit: exp scaled by llvm.ldexp (kernels/cpu/exp_log.py's
SCALEF) did that to GELU's serial twin, 15x slower, while every other test passed. The loops are compiled
afresh here, without Numba's cache (it shows no assembly for cached code).
"""
import re
from types import SimpleNamespace

import numpy as np
import pytest
from numba import njit

from kernels.cpu import _conv_depthwise, _softmax_columns, activation, exp_log, normalize, softmax, \
    softplus_family, special

# packed float32 arithmetic, e.g. vfmadd213ps %zmm1, %zmm2, %zmm3 (not vmovups: the prologue copies structs)
_PACKED = re.compile(r"\bv(f\w*m(add|sub)\w*|mul|add|sub|div|max|min)ps\s[^\n]*%[yz]mm")

f32 = np.float32


def _flat(*extra):
    """(x, out, *extra) for a loop over one flat array."""
    def make():
        x = np.linspace(-3, 3, 1000, dtype=np.float32)
        return (x, np.empty_like(x), *extra)
    return make


def _gradient():
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    return x, x.copy(), np.empty_like(x)  # (g, x, grad)


def _rows(name):
    def make():
        x = np.linspace(-3, 3, 64 * 96, dtype=np.float32).reshape(64, 96)
        stats = [np.ones(64, np.float32) for _ in range(3)]
        w, b = np.ones(96, np.float32), np.zeros(96, np.float32)
        parts = np.zeros((16, 96), np.float32)
        return {"_row_forward": (x, w, b, f32(1e-5), *stats, np.empty_like(x), f32(0), f32(1)),
                "_row_backward": (x, x, stats[0], stats[1], w, np.empty_like(x), parts, parts.copy(), True,
                                  f32(0)),
                "_segment_forward": (x, w[:12], b[:12], 4, 3, f32(1e-5), *stats, np.empty_like(x), f32(0),
                                     f32(1)),
                "_segment_backward": (x, x, stats[0], stats[1], w[:12], 4, 3, np.empty_like(x),
                                      np.empty((64, 3), np.float32), np.empty((64, 3), np.float32), True,
                                      f32(0)),
                # (N, C) = (64, 96): per-channel arrays of 96
                "_features_forward": (x, w, b, 1e-5, w.copy(), w.copy(), w.copy(), np.empty_like(x), True),
                "_features_backward": (x, x, w, w, w, np.empty_like(x), w.copy(), w.copy(), True, True,
                                       np.empty((3, 96), np.float32))}[name]
    return make


def _depthwise(name):
    def make():
        x = np.ones((2, 3, 20, 20), np.float32)
        if name == "_planes":
            return x, np.ones((3, 3, 3), np.float32), np.zeros(3, np.float32), np.empty_like(x), 1, 1
        return x, x, np.empty((3, 3, 3)), 1, 1  # _weight_sums(grad_y, x, sums, ph, pw)
    return make


def _columns(name):
    def make():
        x = np.linspace(-3, 3, 2 * 5 * 300, dtype=np.float32).reshape(2, 5, 300)
        t, per_position = np.zeros((2, 300), np.int64), np.ones((2, 300), np.float32)
        ce = (np.ones(5, np.float32), False, f32(5), np.int64(-100), f32(1), f32(0), False)
        stats = np.zeros((2, 300, 2), np.float32)
        return {"softmax_forward": (x, np.empty_like(x), False),
                "softmax_backward": (x, x, np.empty_like(x), False),
                "cross_entropy_forward": (x, t, *ce, per_position, stats),
                "cross_entropy_backward": (per_position, x, t, stats, *ce, np.empty_like(x))}[name]
    return make


class _SoftmaxColumns:
    """kernels/cpu/_softmax_columns.py's kernels as by_size pairs: .parallel the kernel, .serial its twin in
    kernels/cpu/softmax.py."""
    def __getattr__(self, name):
        kernel = getattr(_softmax_columns, name)
        return SimpleNamespace(parallel=kernel, serial=softmax._TWINS[kernel])


# (module, loop, its arguments)
LOOPS = [
    (special, "_gelu", _flat()),
    (special, "_gelu_backward", _gradient),
    (activation, "_sigmoid", _flat(f32(1))),
    (activation, "_silu", _flat(f32(1))),
    (activation, "_elu", _flat(f32(1), f32(1), f32(1), f32(0))),
    (softplus_family, "_softplus", _flat(f32(1), f32(20), f32(0))),
    (softplus_family, "_log_sigmoid", _flat(f32(0))),
    (exp_log, "_exp", _flat()),
    (exp_log, "_log", _flat()),
    (normalize, "_row_forward", _rows("_row_forward")),
    (normalize, "_row_backward", _rows("_row_backward")),
    (normalize, "_segment_forward", _rows("_segment_forward")),
    (normalize, "_segment_backward", _rows("_segment_backward")),
    (normalize, "_features_forward", _rows("_features_forward")),
    (normalize, "_features_backward", _rows("_features_backward")),
    (_conv_depthwise, "_planes", _depthwise("_planes")),
    (_conv_depthwise, "_weight_sums", _depthwise("_weight_sums")),
] + [(_SoftmaxColumns(), name, _columns(name))
      for name in ("softmax_forward", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward")]


@pytest.mark.parametrize("twin", ["serial", "parallel"])
@pytest.mark.parametrize("module, name, make_args", LOOPS, ids=[name for _, name, _ in LOOPS])
def test_loop_is_vectorised(module, name, make_args, twin):
    compiled = getattr(getattr(module, name), twin)
    options = {k: v for k, v in compiled.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = njit(**options)(compiled.py_func)
    fresh(*make_args())
    assert _PACKED.search(fresh.inspect_asm(fresh.signatures[0])), f"{name} ({twin}) compiled to scalar code"
