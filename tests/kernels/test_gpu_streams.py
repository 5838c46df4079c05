"""Real-GPU only: kernels launch on CuPy's current stream and never wait on it.

These skip without an NVIDIA GPU (run with GPUNET_TEST_REAL_GPU=1 on one). The simulator has no
streams, so only real hardware can show an ordering bug.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def test_kernel_on_a_non_default_stream_sees_work_queued_before_it():
    cp = pytest.importorskip("cupy")
    import kernels.cuda as K
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        x = cp.full(1 << 22, 0.5, dtype=cp.float32)
        x *= 2.0  # queued on `stream`; the kernel below must run after it without a host sync
        y = K.erf(x)
    stream.synchronize()
    assert np.allclose(cp.asnumpy(y), 0.8427008, rtol=1e-6)


def test_fused_adam_matches_cpu_on_device():
    cp = pytest.importorskip("cupy")
    import kernels.cpu as C
    import kernels.cuda as K
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(100_003).astype(np.float32) for _ in range(2)]
    host += [np.zeros(100_003, np.float32) for _ in range(2)]  # exp_avg, exp_avg_sq
    dev = [cp.asarray(a) for a in host]
    host = [a.copy() for a in host]
    for step in range(1, 4):
        C.adam_step(host[0], host[1], host[2], host[3], None,
                    1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False, step)
        K.adam_step(dev[0], dev[1], dev[2], dev[3], None,
                    1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False, step)
    np.testing.assert_allclose(cp.asnumpy(dev[0]), host[0], rtol=1e-6, atol=1e-7)
