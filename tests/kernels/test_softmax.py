"""softmax / log_softmax / cross-entropy kernels: kernels.cpu vs a float64 NumPy reference (and the edge cases
PyTorch defines: -inf logits, rows of only -inf, NaN, huge logits); kernels.cuda (simulator) vs kernels.cpu
on rows wider than one block of threads."""
import numpy as np
import pytest

import kernels.cpu as KC
import kernels.cpu.softmax as cpu_softmax
import kernels.cuda as KG
from kernels.cpu._exp import vexp

# ---------------------------------------------------------------------------------------------
# NumPy reference in float64, straight from the definitions


def ref_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - m) - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def ref_cross_entropy(x, t, w, ignore_index, eps):
    """Per-row loss and d(sum(gl * loss))/dx for a given gl, by the documented formulas (float64)."""
    x = x.astype(np.float64)
    m, c = x.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    lsm = ref_log_softmax(x)
    p = np.exp(lsm)
    loss = np.zeros(m)
    for i in range(m):
        if t[i] == ignore_index:
            continue
        loss[i] = (1 - eps) * w[t[i]] * -lsm[i, t[i]] + eps / c * (w * -lsm[i]).sum()

    def grad(gl):
        g = np.zeros((m, c))
        for i in range(m):
            if t[i] == ignore_index:
                continue
            onehot = np.eye(c)[t[i]]
            hard = (1 - eps) * w[t[i]]
            g[i] = gl[i] * ((hard + eps / c * w.sum()) * p[i] - hard * onehot - eps / c * w)
        return g
    return loss, grad


TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13),
       np.float16: dict(rtol=2e-3, atol=2e-3)}


def _rows(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------------------------------------
# kernels.cpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(5, 9408), (64, 1000), (3, 1), (2, 3, 17), (7,), (4, 0), (0, 5)])
def test_softmax_forward_backward_match_reference(shape, dtype):
    x = _rows(shape, dtype)
    g = _rows(shape, dtype, seed=1, scale=1.0)
    if x.size == 0:
        for name in ("softmax", "log_softmax"):
            y = getattr(KC, name + "_forward")(x)
            assert y.shape == x.shape and getattr(KC, name + "_backward")(g, y).shape == x.shape
        return
    ref = ref_log_softmax(x)
    p = np.exp(ref)
    g64 = g.astype(np.float64)
    y = KC.log_softmax_forward(x)
    s = KC.softmax_forward(x)
    assert y.dtype == s.dtype == dtype and y.shape == s.shape == x.shape
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    np.testing.assert_allclose(s, p, **TOL[dtype])
    gx_log = KC.log_softmax_backward(g, y)
    gx = KC.softmax_backward(g, s)
    np.testing.assert_allclose(gx_log, g64 - p * g64.sum(-1, keepdims=True), **_scaled(TOL[dtype], shape))
    np.testing.assert_allclose(gx, p * (g64 - (g64 * p).sum(-1, keepdims=True)), **TOL[dtype])


def _scaled(tol, shape):
    # log_softmax's backward subtracts p * sum(g): its float rounding grows with the row's sum
    width = shape[-1] if shape else 1
    return dict(rtol=tol["rtol"], atol=tol["atol"] * max(1.0, np.sqrt(width)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_edge_rows_match_pytorch_semantics(dtype):
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, 1.0, 2.0, -inf],  # masked logits: exactly 0 probability, -inf log-probability
                  [-inf, -inf, -inf, -inf],  # nothing left: NaN, as PyTorch
                  [nan, 1.0, 2.0, 3.0],  # a NaN poisons its row
                  [inf, 1.0, 2.0, 3.0],  # so does +inf (inf - inf)
                  [1e4, -1e4, 1e4 - 1, 0.0]], dtype)  # huge logits stay exact
    y, s = KC.log_softmax_forward(x), KC.softmax_forward(x)
    np.testing.assert_allclose(s[0], [0, *np.exp(ref_log_softmax(x[0:1, 1:3]))[0], 0], rtol=1e-6, atol=0)
    assert y[0, 0] == -inf and y[0, 3] == -inf
    assert np.isnan(y[1:4]).all() and np.isnan(s[1:4]).all()
    np.testing.assert_allclose(y[4], ref_log_softmax(x[4:5])[0], rtol=1e-6)
    assert y[4, 0] == pytest.approx(-np.log1p(np.exp(-1.0)), rel=1e-6)
    g = np.ones_like(x)
    gx = KC.log_softmax_backward(g, y)
    np.testing.assert_allclose(gx[0], [1, 1 - 4 * s[0, 1], 1 - 4 * s[0, 2], 1], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_cross_entropy_matches_reference(dtype, weighted, eps):
    m, c = 33, 1000
    x = _rows((m, c), dtype)
    t = np.random.default_rng(2).integers(0, c, m)
    t[[3, 7]] = -100
    w = np.random.default_rng(3).uniform(0.2, 3.0, c).astype(dtype) if weighted else None
    gl = _rows((m,), dtype, seed=4, scale=1.0)
    loss, stats = KC.cross_entropy_forward(x, t, w, -100, eps)
    ref_loss, ref_grad = ref_cross_entropy(x, t, w, -100, eps)
    assert loss.dtype == dtype and stats.shape == (m, 2)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    assert loss[3] == 0 and loss[7] == 0
    gx = KC.cross_entropy_backward(gl, x, t, stats, w, -100, eps)
    np.testing.assert_allclose(gx, ref_grad(gl.astype(np.float64)), **TOL[dtype])
    assert (gx[[3, 7]] == 0).all()


def test_cross_entropy_huge_and_masked_logits():
    x = np.array([[1e4, 1e4 - 1, -np.inf], [-np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0]], np.float32)
    t = np.array([1, 0, 5])  # the last target is out of range: NaN (callers check targets first)
    loss, stats = KC.cross_entropy_forward(x, t, None, -100, 0.0)
    assert loss[0] == pytest.approx(1 + np.log1p(np.exp(-1.0)), rel=1e-6)
    assert np.isnan(loss[1]) and np.isnan(loss[2])
    gx = KC.cross_entropy_backward(np.ones(3, np.float32), x, t, stats, None, -100, 0.0)
    p = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(gx[0], [p, -p, 0], rtol=1e-6)
    assert np.isnan(gx[1:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serial_twins_give_the_parallel_kernels_numbers(dtype, monkeypatch):
    x = _rows((40, 700), dtype)
    t = np.random.default_rng(5).integers(0, 700, 40)
    g = _rows((40, 700), dtype, seed=6)
    outs = []
    for limit in (0, 1 << 40):  # parallel everywhere, then serial everywhere
        monkeypatch.setattr(cpu_softmax, "SERIAL_BELOW", limit)
        y = KC.log_softmax_forward(x)
        s = KC.softmax_forward(x)
        loss, stats = KC.cross_entropy_forward(x, t, None, -100, 0.1)
        outs.append([y, s, KC.log_softmax_backward(g, y), KC.softmax_backward(g, s), loss,
                     KC.cross_entropy_backward(g[:, 0].copy(), x, t, stats, None, -100, 0.1)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_non_contiguous_and_float16_inputs():
    x = _rows((300, 40), np.float32).T  # rows of 300, strided
    np.testing.assert_allclose(KC.log_softmax_forward(x), ref_log_softmax(x), rtol=2e-5, atol=2e-6)
    h = _rows((4, 50), np.float16)
    assert KC.softmax_forward(h).dtype == np.float16


def test_vexp_is_exp_to_two_ulp():
    @__import__("numba").njit
    def run(z, out):
        for i in range(z.size):
            out[i] = vexp(z[i])
    cases = ((np.float32, -87.3, 88.7, 2.0 ** -23), (np.float64, -708.0, 709.7, 2.0 ** -52))
    for dtype, lo, hi, ulp in cases:
        z = np.linspace(lo, hi, 200001).astype(dtype)
        out = np.empty_like(z)
        run(z, out)
        exact = np.exp(z.astype(np.longdouble))
        assert np.max(np.abs(out - exact) / exact) < 2 * ulp
        edge = np.array([-np.inf, np.nan, np.inf, -1e30, 1e30, 0.0], dtype)
        out = np.empty_like(edge)
        run(edge, out)
        np.testing.assert_array_equal(out, [0, np.nan, np.inf, 0, np.inf, 1])


def test_argument_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="floating-point"):
        KC.softmax_forward(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="grad_y must have y's shape"):
        KC.softmax_backward(np.zeros((2, 4), np.float32), x)
    with pytest.raises(ValueError, match="target must be an integer array of shape"):
        KC.cross_entropy_forward(x, np.zeros(3, np.int64), None, -100, 0.0)
    with pytest.raises(ValueError, match="weight must have shape"):
        KC.cross_entropy_forward(x, np.zeros(2, np.int64), np.ones(2, np.float32), -100, 0.0)


# ---------------------------------------------------------------------------------------------
# kernels.cuda (simulator on CPU-only machines) against kernels.cpu: rows of 300 columns span more than one
# block of threads (at most 256 per row), several rows are several blocks

cuda_only = pytest.mark.skipif(not KG.available(),
                               reason=f"kernels.cuda unavailable: {KG.unavailable_reason()}")


def _host(a):
    return a if isinstance(a, np.ndarray) else KG.xp.asnumpy(a)


@cuda_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cuda_matches_cpu(dtype):
    x = _rows((2, 300), dtype)
    x[1, 7] = -np.inf
    g = _rows((2, 300), dtype, seed=1)
    d = KG.xp.asarray
    for name in ("softmax", "log_softmax"):
        fwd_c, bwd_c = getattr(KC, name + "_forward"), getattr(KC, name + "_backward")
        fwd_g, bwd_g = getattr(KG, name + "_forward"), getattr(KG, name + "_backward")
        y = fwd_c(x)
        np.testing.assert_allclose(_host(fwd_g(d(x))), y, **TOL[dtype])
        np.testing.assert_allclose(_host(bwd_g(d(g), d(y))), bwd_c(g, y), **_scaled(TOL[dtype], x.shape))


@cuda_only
def test_softmax_cuda_nan_rows_and_narrow_rows():
    x = np.array([[-np.inf] * 3, [0.0, 1.0, 2.0]], np.float32)
    y = _host(KG.log_softmax_forward(KG.xp.asarray(x)))
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], KC.log_softmax_forward(x)[1], rtol=1e-6)


@cuda_only
@pytest.mark.parametrize("weighted, eps, dtype", [(False, 0.0, np.float32), (True, 0.3, np.float32),
                                                  (True, 0.3, np.float64)])
def test_cross_entropy_cuda_matches_cpu(weighted, eps, dtype):
    x = _rows((3, 300), dtype)
    t = np.array([5, -100, 299])
    w = np.random.default_rng(3).uniform(0.2, 3.0, 300).astype(dtype) if weighted else None
    gl = _rows((3,), dtype, seed=4, scale=1.0)
    d = KG.xp.asarray
    loss_c, stats_c = KC.cross_entropy_forward(x, t, w, -100, eps)
    loss_g, stats_g = KG.cross_entropy_forward(d(x), d(t), None if w is None else d(w), -100, eps)
    np.testing.assert_allclose(_host(loss_g), loss_c, **TOL[dtype])
    np.testing.assert_allclose(_host(stats_g), stats_c, **TOL[dtype])
    gx = KG.cross_entropy_backward(d(gl), d(x), d(t), stats_g, None if w is None else d(w), -100, eps)
    gx_cpu = KC.cross_entropy_backward(gl, x, t, stats_c, w, -100, eps)
    np.testing.assert_allclose(_host(gx), gx_cpu, **TOL[dtype])


@cuda_only
def test_cuda_narrow_rows_share_blocks_and_the_last_block_is_partial():
    # 37 rows of 7 columns: 8 threads a row, 32 rows a block: two blocks, the second with 5 rows; its idle
    # threads still reach every barrier (softmax's reduction, and label smoothing's second one)
    x = _rows((37, 7), np.float32)
    x[36, :] = -np.inf
    t = np.random.default_rng(7).integers(0, 7, 37)
    t[3] = -100
    d = KG.xp.asarray
    y = KC.log_softmax_forward(x)
    np.testing.assert_allclose(_host(KG.log_softmax_forward(d(x))), y, rtol=1e-6, atol=1e-6)
    g = _rows((37, 7), np.float32, seed=8)
    np.testing.assert_allclose(_host(KG.softmax_backward(d(g), d(KC.softmax_forward(x)))),
                               KC.softmax_backward(g, KC.softmax_forward(x)), rtol=1e-5, atol=1e-6)
    loss_c, _ = KC.cross_entropy_forward(x, t, None, -100, 0.1)
    loss_g, stats_g = KG.cross_entropy_forward(d(x), d(t), None, -100, 0.1)
    np.testing.assert_allclose(_host(loss_g), loss_c, rtol=1e-5, atol=1e-6)
    assert np.isnan(_host(loss_g)[36]) and _host(loss_g)[3] == 0
