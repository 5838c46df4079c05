"""kernels.cpu / kernels.cuda exp and log (kernels/cpu/exp_log.py): the float32 loops within 1 ulp of exp
and log in float64 rounded to float32, over the whole range (subnormal results and inputs included) and
at the edges; NumPy's call for everything else.

Measured once over every float32 input (each of the 2**32 bit patterns, in chunks of 2**24 through the
serial loop, against float64 exp / log; 3.5 and 3 minutes here): exp within 0.939 ulp (worst at x =
26.688921), 0.46% of its finite nonzero results differ from the float64 result rounded (0.31% with the
degree-7 Taylor polynomial before vexp's degree-6 fit, the same worst case); log within 0.788 ulp (at
0.6358696), 0.62% differ; no NaN or inf where the rounded result has none. The sweeps here cover about
2 million values each.
"""
import importlib

import numpy as np
import pytest
from numba import njit

import kernels.cpu
from tests.kernels.test_activation import _host, _tables

exp_log = importlib.import_module("kernels.cpu.exp_log")


def _ulps(got, want64):
    """|got - want| in units of the float32 spacing at want (the subnormal spacing below 2**-126)."""
    spacing = np.spacing(np.abs(want64.astype(np.float32))).astype(np.float64)
    return np.abs(got.astype(np.float64) - want64) / spacing


def _exp_inputs():
    rng = np.random.default_rng(50)
    overflow_edge = np.nextafter(np.float32(88.72283), np.float32([-np.inf, np.inf]))
    return np.concatenate([rng.uniform(-104.5, 89.0, 1_000_000), rng.uniform(-1, 1, 500_000),
                           rng.uniform(-1e-4, 1e-4, 100_000), rng.uniform(-104.0, -87.0, 300_000),
                           overflow_edge]).astype(np.float32)


def _log_inputs():
    rng = np.random.default_rng(51)
    bits = rng.integers(1, 0x7F800000, 1_500_000, dtype=np.int32)  # every positive finite float32 exponent
    return np.concatenate([bits.view(np.float32), rng.uniform(0.5, 2.0, 500_000).astype(np.float32),
                           np.arange(1, 70_000, dtype=np.int32).view(np.float32)])  # subnormal inputs


def test_exp_is_within_one_ulp():
    x = _exp_inputs()
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64))
        want32 = want.astype(np.float32)
    got = kernels.cpu.exp(x)
    assert np.array_equal(np.isinf(got), np.isinf(want32))  # the overflow boundary
    assert np.array_equal(got == 0, want32 == 0)  # underflow: 0 where the rounded result is 0, no sooner
    finite = np.isfinite(want32)
    assert _ulps(got[finite], want[finite]).max() < 1.0


def test_log_is_within_one_ulp():
    x = _log_inputs()
    want = np.log(x.astype(np.float64))
    got = kernels.cpu.log(x)
    assert got.dtype == np.float32 and _ulps(got, want).max() < 1.0


def test_edges():
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -1e-45, 1e-45, -88.0, -103.9, -104.5,
                         88.72283, 89.0, 3.4028235e38], np.float32)
    x = np.tile(specials, 1000)
    with np.errstate(all="ignore"):
        want_exp = np.exp(specials.astype(np.float64)).astype(np.float32)
        want_log = np.log(specials.astype(np.float64)).astype(np.float32)
    got_exp, got_log = kernels.cpu.exp(x)[:specials.size], kernels.cpu.log(x)[:specials.size]
    for got, want in ((got_exp, want_exp), (got_log, want_log)):
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan)
        assert np.all(_ulps(got[~nan & np.isfinite(want)], want[~nan & np.isfinite(want)].astype(np.float64))
                      <= 1.0)
        assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    assert got_log[5] == 0 and not np.signbit(got_log[5])  # log(1) = +0
    assert got_exp[10] > 0  # exp(-103.9): a subnormal number, not flushed to 0


@njit(fastmath={"contract"}, error_model="numpy")
def _apply(fn, x, out):
    for i in range(x.size):
        out[i] = fn(x[i])


def test_ldexp_scaling_gives_the_exponent_bits_result():
    """exp's AVX-512 path (exp_log.SCALEF: p * 2**n by llvm.ldexp, vscalefps) and its exponent-bits path
    give the same bits, subnormal results included. Both compile on any host (without AVX-512 the ldexp
    is a libm call per element)."""
    rng = np.random.default_rng(55)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 88.72283, 88.72284, 89.0, 89.1, 1e30, -1e30,
                -87.33654, -87.33655, -103.97, -104.0, -104.01, -150.0]
    x = np.concatenate([rng.uniform(-110, 95, 400_000), rng.uniform(-90, -86, 100_000),
                        rng.uniform(88, 89, 100_000), specials]).astype(np.float32)
    want, got = np.empty_like(x), np.empty_like(x)
    _apply(njit(fastmath={"contract"})(exp_log._exp_from_bits), x, want)
    _apply(njit(fastmath={"contract"})(exp_log._exp_scaled), x, got)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.int32), want[~nan].view(np.int32))
    assert (got[(x > -103) & (x < -87.34)] > 0).all()  # subnormal results kept


def test_everything_else_is_numpys_call(monkeypatch):
    calls = []
    for name in ("_exp", "_log"):
        loop = getattr(exp_log, name)
        monkeypatch.setattr(exp_log, name, lambda *a, _loop=loop: calls.append(a[0].size) or _loop(*a))
    x = np.random.default_rng(52).uniform(0.5, 2.0, (64, 256))
    for a in (x, x.astype(np.float32)[:, ::2], x.astype(np.float32)[:4], x.astype(np.float16),
              np.arange(1, 9000)):
        for name in ("exp", "log"):
            with np.errstate(over="ignore"):
                got, want = getattr(kernels.cpu, name)(a), getattr(np, name)(a)
            assert got.dtype == want.dtype and np.array_equal(got, want)
    assert calls == []
    kernels.cpu.exp(x.astype(np.float32))
    assert calls == [x.size]


def test_serial_and_two_thread_loops_agree(monkeypatch):
    from kernels.cpu import _serial
    x = np.random.default_rng(53).uniform(-20, 20, (9, 5001)).astype(np.float32)
    runs = []
    for limit in (1 << 40, 0):
        monkeypatch.setattr(_serial, "SIZE_SERIAL_BELOW", limit)
        runs.append((kernels.cpu.exp(x), kernels.cpu.log(np.abs(x))))
    for serial, parallel in zip(*runs):
        np.testing.assert_array_equal(parallel, serial)


@pytest.mark.parametrize("K", _tables(), ids=lambda K: K.__name__)
def test_both_tables(K):
    x = np.random.default_rng(54).uniform(0.1, 10.0, 20_000).astype(np.float32)
    np.testing.assert_allclose(_host(K, K.exp(K.xp.asarray(x))), np.exp(x), rtol=3e-7)
    np.testing.assert_allclose(_host(K, K.log(K.xp.asarray(x))), np.log(x), rtol=3e-7, atol=1e-7)


def test_gpunet_exp_and_log_take_the_loops(monkeypatch):
    """torch.exp / torch.log of a large float32 tensor use these loops; the gradients are exp(x) and 1 / x."""
    import gpunet

    calls = []
    for name in ("_exp", "_log"):
        loop = getattr(exp_log, name)
        monkeypatch.setattr(exp_log, name, lambda *a, _loop=loop, _n=name: calls.append(_n) or _loop(*a))
    x = (gpunet.rand(128, 128) + 0.5).requires_grad_()
    (x.exp() + x.log()).sum().backward()
    X = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(X) + 1 / X, rtol=1e-6)
    assert calls == ["_exp", "_log"]
