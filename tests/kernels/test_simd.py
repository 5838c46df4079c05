"""kernels/cpu/_simd.py's vectors and blocks of vectors inside @njit code, against NumPy."""
import numpy as np
import pytest
from numba import njit

from kernels.cpu._simd import LANES, vfmas, vload, vloads, vsplats, vstores, vtranspose


@njit
def _block_of_3(x, a, out, count):
    # out[j * LANES:][:LANES] = a[1 + j] + x[2:2 + LANES] * a[5 + j], twice accumulated, for j < count
    block = vsplats(a, 1, 3)
    v = vload(x, 2)
    block = vfmas(block, v, a, 5)
    block = vfmas(block, v, a, 5)
    vstores(out, 0, LANES, count, block)


@njit
def _block_of_8(x, a, out):
    block = vsplats(a, 0, 8)
    block = vfmas(block, vload(x, 0), a, 8)
    vstores(out, 1, LANES + 1, 8, block)


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_block_of_three(count):
    rng = np.random.default_rng(0)
    x, a = rng.standard_normal(LANES + 3).astype(np.float32), rng.standard_normal(9).astype(np.float32)
    out = np.full(3 * LANES, np.nan, np.float32)
    _block_of_3(x, a, out, count)
    want = (a[1:4, None] + x[None, 2:2 + LANES] * a[5:8, None] + x[None, 2:2 + LANES] * a[5:8, None])
    np.testing.assert_allclose(out[:count * LANES].reshape(count, LANES), want[:count], rtol=1e-6, atol=1e-6)
    assert np.isnan(out[count * LANES:]).all()  # vectors past count are not stored


def test_block_of_eight_with_a_step():
    rng = np.random.default_rng(1)
    x, a = rng.standard_normal(LANES).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    out = np.full(1 + 8 * (LANES + 1), np.nan, np.float32)
    _block_of_8(x, a, out)
    got = out[1:].reshape(8, LANES + 1)
    np.testing.assert_allclose(got[:, :LANES], a[:8, None] + x[None] * a[8:, None], rtol=1e-6, atol=1e-6)
    assert np.isnan(got[:, LANES]).all() and np.isnan(out[0])  # the gaps between steps are untouched


def test_fma_rounds_once():
    # (1 + e)(1 - e) - 1 with e = 2**-13: the product 1 - 2**-26 rounds to 1 in float32 (0 unfused)
    e = np.float32(2.0 ** -13)
    x, a = np.full(LANES, 1 + e, np.float32), np.array([-1.0, 1 - e], np.float32)
    out = np.empty(LANES, np.float32)

    @njit
    def fused(x, a, out):
        vstores(out, 0, LANES, 1, vfmas(vsplats(a, 0, 1), vload(x, 0), a, 1))

    fused(x, a, out)
    assert (out == np.float32(-(2.0 ** -26))).all()


@njit
def _transposed_tile(a, start, step, out):
    vstores(out, 0, LANES, LANES, vtranspose(vloads(a, start, step, LANES)))


def test_transpose_a_tile_read_with_a_step():
    """vloads reads LANES vectors `step` apart; vtranspose turns rows into columns: NumPy's .T."""
    a = np.arange(3 + LANES * (LANES + 2), dtype=np.float32)
    out = np.full(LANES * LANES, np.nan, np.float32)
    _transposed_tile(a, 3, LANES + 2, out)
    tile = a[3:3 + LANES * (LANES + 2)].reshape(LANES, LANES + 2)[:, :LANES]
    np.testing.assert_array_equal(out.reshape(LANES, LANES), tile.T)
