"""Per-thread scratch buffers for the CPU convolutions, and zero-padded copies of their input.

A buffer per slot and thread is kept and reused across calls, so large temporaries (column matrices,
transposed gradients, padded inputs) are not page-faulted in again on every call; its contents are
undefined when handed out.
"""
import math
import threading

import numpy as np
from numba import njit, uint64

_local = threading.local()


ALIGN = 64  # bytes: a cache line, so that vector loads at multiples of 64 bytes do not span two


def workspace(slot, shape, dtype):
    """Scratch array of shape/dtype (contents undefined, starting at a multiple of ALIGN bytes), reusing
    this thread's buffer for slot. (NumPy's allocations start 16 bytes past a line here: every 64-byte
    load of kernels/cpu/_conv_batch_inner.py's vector loop then read two lines; LeNet's second layer took
    0.34 ms so and 0.29 aligned, one run each.)"""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buf = getattr(_local, slot, None)
    if buf is None or buf.nbytes < nbytes + ALIGN:
        buf = np.empty(max(nbytes, 64) + ALIGN, dtype=np.uint8)
        setattr(_local, slot, buf)
    start = -buf.ctypes.data % ALIGN
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def padded(x, ph, pw):
    """Contiguous x (N, C, H, W) zero-padded by ph rows and pw columns on each side, in this thread's
    "padded" workspace; x itself without padding."""
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    out = workspace("padded", (N, C, H + 2 * ph, W + 2 * pw), x.dtype)
    _pad(x, out, ph, pw)
    return out


def padded_flat(x, ph, pw, slack):
    """Contiguous x (N, C, H, W) zero-padded as ``padded`` (a copy also without padding), flattened, with
    `slack` zeros after it, in this thread's "padded_flat" workspace: loops over its planes may read a
    little past the last one."""
    N, C, H, W = x.shape
    size = N * C * (H + 2 * ph) * (W + 2 * pw)
    flat = workspace("padded_flat", (size + slack,), x.dtype)
    _pad(x, flat[:size].reshape(N, C, H + 2 * ph, W + 2 * pw), ph, pw)
    flat[size:] = 0
    return flat


@njit(nogil=True, cache=True)
def _pad(x, xp, ph, pw):
    """xp = x zero-padded by ph rows and pw columns on each side of every (n, c) plane."""
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    src = x.reshape(-1)
    dst = xp.reshape(-1)
    for t in range(N * C):
        plane = uint64(t * Hp * Wp)
        dst[plane:plane + uint64(ph * Wp)] = 0
        dst[plane + uint64((ph + H) * Wp):plane + uint64(Hp * Wp)] = 0
        for h in range(H):
            d0 = plane + uint64((h + ph) * Wp)
            s0 = uint64((t * H + h) * W)
            for j in range(uint64(pw)):
                dst[d0 + j] = 0
                dst[d0 + uint64(pw + W) + j] = 0
            for j in range(uint64(W)):
                dst[d0 + uint64(pw) + j] = src[s0 + j]
