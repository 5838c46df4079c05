"""The CPU loops behind the elementwise ops are vectorised: their compiled code holds packed float32
instructions on AVX2 (ymm) or AVX-512 (zmm) registers, in the serial twin and in the threaded loop alike.

LLVM decides per loop, from its cost model, and a change inside a helper that a loop inlines can leave the
whole loop scalar without changing one result bit: exp scaled by llvm.ldexp (kernels/cpu/exp_log.py's
SCALEF) did that to GELU's serial twin, 15x slower, while every other test passed. The loops are compiled
afresh here, without Numba's cache (it shows no assembly for cached code).
"""
import re

import numpy as np
import pytest
from numba import njit

from kernels.cpu import activation, exp_log, softplus_family, special

# packed float32 arithmetic, e.g. vfmadd213ps %zmm1, %zmm2, %zmm3 (not vmovups: the prologue copies structs)
_PACKED = re.compile(r"\bv(f\w*m(add|sub)\w*|mul|add|sub|div|max|min)ps\s[^\n]*%[yz]mm")

f32 = np.float32
# (module, loop, the arguments after (x, out))
LOOPS = [
    (special, "_gelu", ()),
    (special, "_gelu_backward", None),  # (g, x, grad)
    (activation, "_sigmoid", (f32(1),)),
    (activation, "_silu", (f32(1),)),
    (activation, "_elu", (f32(1), f32(1), f32(1), f32(0))),
    (softplus_family, "_softplus", (f32(1), f32(20), f32(0))),
    (softplus_family, "_log_sigmoid", (f32(0),)),
    (exp_log, "_exp", ()),
    (exp_log, "_log", ()),
]


@pytest.mark.parametrize("twin", ["serial", "parallel"])
@pytest.mark.parametrize("module, name, extra", LOOPS, ids=[name for _, name, _ in LOOPS])
def test_loop_is_vectorised(module, name, extra, twin):
    compiled = getattr(getattr(module, name), twin)
    options = {k: v for k, v in compiled.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = njit(**options)(compiled.py_func)
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    args = (x, x.copy(), np.empty_like(x)) if extra is None else (x, np.empty_like(x), *extra)
    fresh(*args)
    assert _PACKED.search(fresh.inspect_asm(fresh.signatures[0])), f"{name} ({twin}) compiled to scalar code"
