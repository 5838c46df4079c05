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


# ---------------------------------------------------------------------------------------------
# along a middle axis: kernels/cpu/_softmax_columns.py (vectorised across the positions, in blocks of 256)
# against the row kernels on the axis moved last; kernels.cuda moves the axis itself

def _moved(a, axis):
    return np.ascontiguousarray(np.moveaxis(a, axis, -1))


AXES = [((4, 21, 300), 1), ((3, 5, 7, 9), 1), ((2, 3, 600), 0), ((5, 6, 7), -2), ((2, 7, 1, 3), 2),
        ((2, 4, 513), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", AXES, ids=str)
def test_softmax_along_a_middle_axis_is_the_row_kernel_on_the_axis_moved_last(shape, axis, dtype):
    x = _rows(shape, dtype)
    x.reshape(-1)[::37] = -np.inf  # some -inf logits; positions of only -inf below
    g = _rows(shape, dtype, seed=1)
    for name in ("softmax", "log_softmax"):
        fwd, bwd = getattr(KC, name + "_forward"), getattr(KC, name + "_backward")
        y = fwd(x, axis)
        y_rows = fwd(_moved(x, axis))
        np.testing.assert_allclose(_moved(y, axis), y_rows, **TOL[dtype])
        np.testing.assert_allclose(_moved(bwd(g, y, axis), axis), bwd(_moved(g, axis), y_rows),
                                   **_scaled(TOL[dtype], (1, shape[axis])))
    reference = ref_log_softmax(_moved(x, axis))
    np.testing.assert_allclose(_moved(KC.log_softmax_forward(x, axis), axis), reference, **TOL[dtype])


def test_middle_axis_nan_and_inf_positions_are_nan_in_every_class():
    x = _rows((2, 5, 300), np.float32)
    x[0, :, 3] = -np.inf  # only -inf
    x[0, 2, 4] = np.nan
    x[1, 4, 299] = np.inf  # in the second block
    for fwd in (KC.softmax_forward, KC.log_softmax_forward):
        y = fwd(x, 1)
        bad = np.isnan(y).all(axis=1)
        assert bad[0, 3] and bad[0, 4] and bad[1, 299] and bad.sum() == 3
        assert not np.isnan(y).any(axis=1)[~bad].any()


def _ce_columns_case(dtype, weighted, c=7, n=3, positions=300):
    rng = np.random.default_rng(11)
    x = _rows((n, c, positions), dtype)
    t = rng.integers(0, c, (n, positions))
    t[0, :5] = -100
    t[1, 3], t[-1, -1] = c, -1  # out of range: NaN loss and gradient, as the row kernel
    x[-1, :, positions // 2] = -np.inf
    w = rng.uniform(0.2, 3.0, c).astype(dtype) if weighted else None
    return x, t, w, _rows((n, positions), dtype, seed=4, scale=1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted, eps", [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.3)])
def test_cross_entropy_of_n_c_l_logits_is_the_row_kernel_per_position(weighted, eps, dtype):
    x, t, w, gl = _ce_columns_case(dtype, weighted)
    n, c, positions = x.shape
    loss, stats = KC.cross_entropy_forward(x, t, w, -100, eps)
    rows = _moved(x, 1).reshape(-1, c)
    loss_rows, stats_rows = KC.cross_entropy_forward(rows, t.reshape(-1), w, -100, eps)
    assert loss.shape == (n, positions) and stats.shape == (n, positions, 2)
    np.testing.assert_allclose(loss.reshape(-1), loss_rows, **TOL[dtype])
    np.testing.assert_allclose(stats.reshape(-1, 2), stats_rows, **TOL[dtype])
    gx = KC.cross_entropy_backward(gl, x, t, stats, w, -100, eps)
    gx_rows = KC.cross_entropy_backward(gl.reshape(-1), rows, t.reshape(-1), stats_rows, w, -100, eps)
    np.testing.assert_allclose(_moved(gx, 1).reshape(-1, c), gx_rows, **TOL[dtype])
    assert np.isnan(loss[1, 3]) and np.isnan(gx[1, :, 3]).all() and np.isnan(gx[-1, :, -1]).all()
    assert (loss[0, :5] == 0).all() and (gx[0, :, :5] == 0).all()
    flat = t.reshape(-1)
    keep = (flat == -100) | ((flat >= 0) & (flat < c))  # the documented formulas, where targets are valid
    ref_loss, ref_grad = ref_cross_entropy(rows[keep], flat[keep], w, -100, eps)
    np.testing.assert_allclose(loss.reshape(-1)[keep], ref_loss, **TOL[dtype])
    gx_rows_kept = _moved(gx, 1).reshape(-1, c)[keep]
    np.testing.assert_allclose(gx_rows_kept, ref_grad(gl.reshape(-1)[keep]), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_middle_axis_serial_twins_give_the_parallel_kernels_numbers(dtype, monkeypatch):
    x, t, w, gl = _ce_columns_case(dtype, True, positions=600)
    g = _rows(x.shape, dtype, seed=6)
    outs = []
    for limit in (0, 1 << 40):
        monkeypatch.setattr(cpu_softmax, "SERIAL_BELOW", limit)
        y, s = KC.log_softmax_forward(x, 1), KC.softmax_forward(x, 1)
        loss, stats = KC.cross_entropy_forward(x, t, w, -100, 0.1)
        outs.append([y, s, KC.log_softmax_backward(g, y, 1), KC.softmax_backward(g, s, 1), loss, stats,
                     KC.cross_entropy_backward(gl, x, t, stats, w, -100, 0.1)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_middle_axis_argument_errors():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="axis 3 is out of range for x of shape"):
        KC.softmax_forward(x, 3)
    with pytest.raises(ValueError, match=r"target must be an integer array of shape \(2, 4\)"):
        KC.cross_entropy_forward(x, np.zeros((2, 3), np.int64), None, -100, 0.0)
    with pytest.raises(ValueError, match=r"grad_loss must have target's shape \(2, 4\)"):
        loss, stats = KC.cross_entropy_forward(x, np.zeros((2, 4), np.int64), None, -100, 0.0)
        KC.cross_entropy_backward(np.zeros(8, np.float32), x, np.zeros((2, 4), np.int64), stats, None, -100,
                                  0.0)


@cuda_only
@pytest.mark.parametrize("shape, axis", [((2, 5, 3, 4), 1), ((3, 4, 5), 0)], ids=str)
def test_softmax_cuda_along_a_middle_axis_matches_cpu(shape, axis):
    x, g = _rows(shape, np.float32), _rows(shape, np.float32, seed=1)
    d = KG.xp.asarray
    for name in ("softmax", "log_softmax"):
        fwd_c, bwd_c = getattr(KC, name + "_forward"), getattr(KC, name + "_backward")
        fwd_g, bwd_g = getattr(KG, name + "_forward"), getattr(KG, name + "_backward")
        y = fwd_c(x, axis)
        np.testing.assert_allclose(_host(fwd_g(d(x), axis)), y, **TOL[np.float32])
        np.testing.assert_allclose(_host(bwd_g(d(g), d(y), axis)), bwd_c(g, y, axis), rtol=1e-5, atol=1e-6)


@cuda_only
def test_cross_entropy_cuda_of_n_c_l_logits_matches_cpu():
    x, t, w, gl = _ce_columns_case(np.float32, True, c=5, n=2, positions=6)
    t[1, 3], t[-1, -1] = 2, 0  # no out-of-range target
    d = KG.xp.asarray
    loss_c, stats_c = KC.cross_entropy_forward(x, t, w, -100, 0.2)
    loss_g, stats_g = KG.cross_entropy_forward(d(x), d(t), d(w), -100, 0.2)
    np.testing.assert_allclose(_host(loss_g), loss_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_host(stats_g), stats_c, rtol=1e-5, atol=1e-6)
    gx = KG.cross_entropy_backward(d(gl), d(x), d(t), stats_g, d(w), -100, 0.2)
    gx_cpu = KC.cross_entropy_backward(gl, x, t, stats_c, w, -100, 0.2)
    np.testing.assert_allclose(_host(gx), gx_cpu, rtol=1e-5, atol=1e-6)
