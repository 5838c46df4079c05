"""The simulated cuda device is as strict as CuPy: each class of mistake a real GPU rejects fails here too.

Each test plants one mistake and watches it fail; kernels.cuda.cupy_api's snapshot is checked against the
installed CuPy when there is one (CI installs cupy-cuda12x, which imports without a GPU).
"""
import numpy as np
import pytest

from kernels.cuda import _launch, cupy_api

if not _launch.SIMULATOR:
    pytest.skip("the strict simulator runs only with GPUNET_CUDA_SIM=1", allow_module_level=True)

from kernels.cuda import strict_sim  # noqa: E402

xp = strict_sim.namespace


@pytest.fixture
def dev():
    return xp.arange(6, dtype=np.float32).reshape(2, 3)


def test_snapshot_matches_installed_cupy():
    pytest.importorskip("cupy", reason="CuPy not installed: the snapshot cannot be compared")
    installed = cupy_api.read_installed()
    snapshot = cupy_api.load()
    for ns in cupy_api.NAMESPACES:
        assert snapshot["namespaces"][ns] == installed["namespaces"][ns], (
            f"{ns} differs from CuPy {installed['cupy_version']}: run python -m kernels.cuda.cupy_api")


def test_device_arrays_are_the_simulators_and_numpy_arrays_are_not(dev):
    assert isinstance(dev, xp.ndarray) and not isinstance(dev, np.ndarray)
    assert isinstance(np.zeros(2), np.ndarray) and not isinstance(np.zeros(2), xp.ndarray)


@pytest.mark.parametrize("name", ["errstate", "seterr", "add_docstring", "not_a_function"])
def test_a_name_cupy_lacks_fails(name):
    with pytest.raises(AttributeError, match="CuPy lacks it"):
        getattr(xp, name)


def test_a_generator_method_cupy_lacks_fails():
    rng = xp.random.Generator(xp.random.XORWOW(0))
    assert isinstance(rng.random(3), xp.ndarray)
    with pytest.raises(AttributeError, match="cupy.random.Generator has no attribute 'permutation'"):
        rng.permutation(3)


def test_an_array_attribute_cupy_lacks_fails(dev):
    with pytest.raises(AttributeError, match="cupy.ndarray has no attribute 'resize'"):
        dev.resize(3, 2)
    with pytest.raises(AttributeError, match="cupy.ndarray has no attribute 'ctypes'"):
        dev.ctypes


def test_a_keyword_cupy_lacks_fails(dev):
    with pytest.raises(TypeError, match=r"keyword\(s\) \['where'\] that CuPy's cupy.sum does not take"):
        xp.sum(dev, where=dev > 0)
    with pytest.raises(TypeError, match=r"\['initial'\].*cupy.ndarray.max"):
        dev.max(initial=0)
    with pytest.raises(TypeError, match=r"\['where'\].*cupy.exp"):
        xp.exp(dev, where=dev > 0)
    assert xp.sum(dev, axis=0, keepdims=True).shape == (1, 3)  # keywords CuPy has pass


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda a: np.float32(a[0, 0]), float, int, bool,
                                     complex, lambda a: a.item(), lambda a: a.tolist(), lambda a: a.get(),
                                     lambda a: f"{a:.3f}", lambda a: 1.0 in a],
                         ids=["asarray", "array", "np.float32", "float", "int", "bool", "complex", "item",
                              "tolist", "get", "format", "in"])
def test_implicit_device_to_host_conversion_fails(dev, convert):
    with pytest.raises(TypeError, match="cuda device array"):
        convert(dev[:1, :1] if convert in (float, int, bool, complex) else dev)


def test_an_if_on_a_device_value_fails(dev):
    with pytest.raises(TypeError, match="bool()"):
        if (dev > 2).any():
            pass


@pytest.mark.parametrize("fn", [np.sum, np.exp, np.maximum.reduce, lambda a: np.concatenate([a, a]),
                                lambda a: np.where(a > 0, a, 0)],
                         ids=["np.sum", "np.exp", "ufunc.reduce", "np.concatenate", "np.where"])
def test_numpy_functions_on_device_arrays_fail(dev, fn):
    with pytest.raises(TypeError):
        fn(dev)


def test_host_arrays_mixed_into_device_work_fail(dev):
    host = np.ones(3, np.float32)
    for mix in (lambda: dev + host, lambda: host + dev, lambda: dev * host, lambda: xp.maximum(dev, host),
                lambda: xp.concatenate([dev, host[None]]), lambda: xp.where(dev > 0, host, dev)):
        with pytest.raises(TypeError):
            mix()
    assert isinstance(dev + np.float32(1) + 2.0, xp.ndarray)  # scalars are fine, as in CuPy


def test_host_to_device_copies_and_never_aliases():
    host = np.zeros(3)
    for to_device in (xp.asarray, xp.array, xp.asanyarray):
        d = to_device(host)
        host[0] = 1.0
        assert xp.asnumpy(d)[0] == 0.0
        host[0] = 0.0
    d = xp.asarray([1, 2])
    assert xp.asarray(d) is d  # a device array stays itself


def test_results_stay_on_the_device(dev):
    assert isinstance(dev.sum(), xp.ndarray) and dev.sum().shape == ()  # CuPy reduces to 0-d arrays
    assert isinstance(dev[0, 0], xp.ndarray)
    assert all(isinstance(v, xp.ndarray) for v in xp.nonzero(dev))
    out = xp.empty_like(dev)
    assert xp.add(dev, 1, out=out) is out


def test_asnumpy_is_the_one_transfer_and_is_counted(dev):
    strict_sim.syncs.clear()
    host = xp.asnumpy(dev)
    assert type(host) is np.ndarray and host.tolist() == [[0, 1, 2], [3, 4, 5]]
    host[0, 0] = 9
    assert xp.asnumpy(dev)[0, 0] == 0  # a copy
    assert strict_sim.syncs == {"asnumpy": 2}


def test_data_dependent_shapes_count_as_syncs(dev):
    strict_sim.syncs.clear()
    dev[dev > 2]
    xp.nonzero(dev)
    dev[:, [0, 2]]  # an integer index has a known shape: no sync
    assert strict_sim.syncs == {"boolean mask index": 1, "cupy.nonzero": 1}


def test_kernels_receive_the_simulated_memory(dev):
    (args,) = [_launch._device_args([dev])]
    assert type(args[0]) is np.ndarray
    args[0][0, 0] = 7  # a kernel's write is seen by the device array
    assert xp.asnumpy(dev)[0, 0] == 7
