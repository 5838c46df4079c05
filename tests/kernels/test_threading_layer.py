"""Which Numba threading layer gpunet's CPU kernels run on (kernels/__init__.py), and what it allows."""
import importlib.metadata
import os
import threading

import numba
import numpy as np
import pytest

import kernels.cpu as KC


def _start_pool():
    # a pooling call large enough to take Numba's thread pool initialises the threading layer
    x = np.random.default_rng(0).standard_normal((8, 16, 32, 32)).astype(np.float32)
    return x, KC.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)[0]


def test_tbb_is_chosen_when_installed():
    if os.environ.get("NUMBA_THREADING_LAYER"):
        pytest.skip("NUMBA_THREADING_LAYER is set: the user's choice wins")
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the tbb package is not installed (gpunet falls back to workqueue)")
    _start_pool()
    assert numba.threading_layer() == "tbb"


def test_kernels_from_several_python_threads_give_the_same_results():
    x, expected = _start_pool()
    if numba.threading_layer() == "workqueue":
        pytest.skip("the workqueue layer does not support concurrent kernel calls")
    p0 = np.linspace(-1, 1, 1 << 16).astype(np.float32)
    grads = [np.full(1 << 15, 0.5, np.float32), np.full(1 << 15, -0.25, np.float32)]
    step_expected = p0.copy()
    KC.sgd_step(step_expected, grads, None, 0.1, 0.0, 0.0, 0.0, False, False, False)
    failures = []

    def work():
        for _ in range(20):
            y = KC.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)[0]
            if not np.array_equal(y, expected):
                failures.append("max_pool2d")
            p = p0.copy()
            KC.sgd_step(p, grads, None, 0.1, 0.0, 0.0, 0.0, False, False, False)
            if not np.array_equal(p, step_expected):
                failures.append("sgd_step")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
