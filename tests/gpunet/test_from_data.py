"""tensor(data), as_tensor and the legacy constructors on every kind of data PyTorch reads, against
PyTorch: sequences of any type, NumPy scalars and arrays, 0-d tensors, dtype inference, range checks;
and the data both refuse (iterators, sets, dicts, strings, ragged nesting), with clear errors."""
import array
import collections
import warnings

import numpy as np
import pytest

import gpunet


class Seq:
    """The bare sequence protocol: __len__ and __getitem__, no __iter__."""

    def __init__(self, *items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class ArrayOnly:
    """Only __array__: PyTorch does not read it (no length), nor does gpunet."""

    def __array__(self, dtype=None, copy=None):
        return np.array([1, 2])


# name -> data, built with the library's own tensor() where data holds tensors
DATA = {
    "deque": lambda m: collections.deque([1, 2, 3]),
    "deque_floats": lambda m: collections.deque([1.5, 2]),
    "range": lambda m: range(4),
    "ranges_nested": lambda m: [range(2), range(2, 4)],
    "tuple_of_lists": lambda m: ([1, 2], [3, 4]),
    "mixed_scalars": lambda m: [1, 2.5, True],
    "int_bool": lambda m: [1, True],
    "bools": lambda m: [True, False],
    "np_scalars": lambda m: [np.float32(1.5), np.int64(2)],
    "np_int32s": lambda m: [np.int32(1), np.int32(2)],
    "np_int32_py_int": lambda m: [np.int32(1), 5],
    "np_int8_int16": lambda m: [np.int8(1), np.int16(5)],
    "np_uint8_int8": lambda m: [np.uint8(1), np.int8(5)],
    "np_float16_py_float": lambda m: [np.float16(1), 1.0],
    "np_float64_py_float": lambda m: [np.float64(1), 1.0],
    "np_float16_alone": lambda m: np.float16(1.5),
    "np_int32_alone": lambda m: np.int32(7),
    "np_bool_list": lambda m: [np.bool_(True)],
    "tensors_0d": lambda m: [m.tensor(1.0), m.tensor(2.0)],
    "tensors_0d_int": lambda m: [m.tensor(1), m.tensor(2)],
    "tensor_int32_py_int": lambda m: [m.tensor(1, dtype=m.int32), 2],
    "tensors_int32": lambda m: [m.tensor(1, dtype=m.int32), m.tensor(2, dtype=m.int32)],
    "tensor_float64_py_int": lambda m: [m.tensor(1.0, dtype=m.float64), 2],
    "tensors_float16": lambda m: [m.tensor(1.0, dtype=m.float16), m.tensor(2.0, dtype=m.float16)],
    "tensor_bool_int": lambda m: [m.tensor(True), 1],
    "tensor_int_float": lambda m: [m.tensor(1), 1.5],
    "one_element_1d_tensors": lambda m: [m.tensor([1.0]), m.tensor([2.0])],
    "tensors_in_nested_lists": lambda m: [[m.tensor(1.0, dtype=m.float64)], [m.tensor(2.0)]],
    "tensor_in_tuple": lambda m: (m.tensor(1.5),),
    "np_array_in_list": lambda m: [np.array([1.0, 2.0], dtype=np.float32)],
    "np_int32_array_and_floats": lambda m: [np.array([1, 2], dtype=np.int32), [1.5, 2]],
    "array_d": lambda m: array.array("d", [1, 2]),
    "array_i": lambda m: array.array("i", [1, 2]),
    "array_f_nested": lambda m: [array.array("f", [1, 2]), array.array("f", [3, 4])],
    "memoryview": lambda m: memoryview(b"ab"),
    "bytearray": lambda m: bytearray(b"ab"),
    "sequence_protocol": lambda m: Seq(0.0, 1.5, 3.0),
    "sequence_protocol_nested": lambda m: Seq(Seq(1, 2), [3, 4]),
    "empty": lambda m: [],
    "empty_nested": lambda m: [[], []],
    "empty_deque": lambda m: collections.deque(),
    "nan_inf": lambda m: [float("nan"), float("inf")],
    "python_int_subclass": lambda m: [True, 3],
    "big_float_to_inf": lambda m: [1e300],
}

# name -> (data, keyword arguments): explicit dtypes, conversion and range checks
WITH_DTYPE = {
    "ints_to_float64": ([1, 2], "float64"),
    "float_exact_in_float64": ([0.1], "float64"),
    "big_int_to_float32": ([2 ** 70], "float32"),
    "floats_truncate_to_int64": ([1.7, -1.2], "int64"),
    "overflow_to_inf_in_float16": ([70000.0], "float16"),
    "int_to_bool": ([True, 5, 0], "bool"),
    "negative_ints_wrap_into_uint8": ([-1, -255, 255], "uint8"),
    "int8_limits": ([-128, 127], "int8"),
    "np_array_wraps_to_uint8": (np.array([300, -1]), "uint8"),
    "deque_to_int32": (collections.deque([1, 2]), "int32"),
    "range_to_float16": (range(3), "float16"),
}

# data both libraries refuse: (data, exception type) -- the type is PyTorch's
REFUSED = {
    "generator": (lambda: (i for i in range(3)), RuntimeError, "Could not infer dtype of generator"),
    "set": (lambda: {1, 2}, RuntimeError, "Could not infer dtype of set"),
    "frozenset": (lambda: frozenset({1}), RuntimeError, "Could not infer dtype of frozenset"),
    "dict": (lambda: {1: 2}, RuntimeError, "Could not infer dtype of dict"),
    "iterator": (lambda: iter([1, 2]), RuntimeError, "Could not infer dtype of list_iterator"),
    "map": (lambda: map(float, [1, 2]), RuntimeError, "Could not infer dtype of map"),
    "none": (lambda: None, RuntimeError, "Could not infer dtype of NoneType"),
    "none_in_list": (lambda: [1, None], RuntimeError, "Could not infer dtype of NoneType"),
    "array_only": (lambda: ArrayOnly(), RuntimeError, "Could not infer dtype of ArrayOnly"),
    "str": (lambda: "abc", TypeError, "new\\(\\): invalid data type 'str'"),
    "bytes": (lambda: b"ab", TypeError, "new\\(\\): invalid data type 'bytes'"),
    "ragged": (lambda: [[1, 2], [3]], ValueError, "expected sequence of length 2 at dim 1 \\(got 1\\)"),
    "ragged_deep": (lambda: [[[1]], [[1, 2]]], ValueError,
                    "expected sequence of length 1 at dim 2 \\(got 2\\)"),
    "big_int": (lambda: [2 ** 70], ValueError, "Overflow when unpacking long long"),
    "object_array": (lambda: np.array([1, None], dtype=object), TypeError,
                     "can't convert np.ndarray of type numpy.object_"),
    "str_array": (lambda: np.array(["a"]), TypeError, "can't convert np.ndarray of type numpy.str_"),
}

REFUSED_WITH_DTYPE = {
    "too_negative_for_uint8": ([-256], "uint8", "value cannot be converted to type uint8 without overflow"),
    "too_big_for_uint8": ([256], "uint8", "value cannot be converted to type uint8 without overflow"),
    "too_big_for_int8": ([128], "int8", "value cannot be converted to type int8 without overflow"),
    "too_big_for_int32": ([3e9], "int32", "value cannot be converted to type int32 without overflow"),
    "nan_to_int64": ([float("nan")], "int64", "value cannot be converted to type int64 without overflow"),
    "fraction_to_uint8": ([-0.5], "uint8", "value cannot be converted to type uint8 without overflow"),
    "scalar_to_uint8": (300, "uint8", "value cannot be converted to type uint8 without overflow"),
}


def _torch_tensor(torch, *args, **kwargs):
    with warnings.catch_warnings():  # "Creating a tensor from a list of numpy.ndarrays is extremely slow"
        warnings.simplefilter("ignore", UserWarning)
        return torch.tensor(*args, **kwargs)


def _same(mine, ref):
    assert list(mine.shape) == list(ref.shape)
    assert str(mine.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    np.testing.assert_array_equal(mine.cpu().numpy(), ref.numpy())


@pytest.mark.parametrize("name", sorted(DATA))
def test_tensor_matches_torch(name, device):
    torch = pytest.importorskip("torch")
    mine = gpunet.tensor(DATA[name](gpunet), device=device)
    assert mine.device.type == device
    _same(mine, _torch_tensor(torch, DATA[name](torch)))


@pytest.mark.parametrize("name", sorted(WITH_DTYPE))
def test_tensor_with_dtype_matches_torch(name, device):
    torch = pytest.importorskip("torch")
    data, dtype = WITH_DTYPE[name]
    mine = gpunet.tensor(data, dtype=getattr(gpunet, dtype), device=device)
    _same(mine, torch.tensor(data, dtype=getattr(torch, dtype)))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_as_torch_refuses(name):
    make, exc, message = REFUSED[name]
    with pytest.raises(exc, match=message):
        gpunet.tensor(make())
    torch = pytest.importorskip("torch")
    with pytest.raises(exc):
        torch.tensor(make())


@pytest.mark.parametrize("name", sorted(REFUSED_WITH_DTYPE))
def test_out_of_range_refused_as_torch_refuses(name, device):
    data, dtype, message = REFUSED_WITH_DTYPE[name]
    with pytest.raises(RuntimeError, match=message):
        gpunet.tensor(data, dtype=getattr(gpunet, dtype), device=device)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=message.replace("int64", "(int64|long)")):
        torch.tensor(data, dtype=getattr(torch, dtype))


def test_refusals_say_what_to_pass():
    with pytest.raises(RuntimeError, match="build a list first"):
        gpunet.tensor(i for i in range(3))
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars.*"
                                         "torch.stack"):
        gpunet.tensor([gpunet.ones(2), gpunet.ones(2)])
    with pytest.raises(TypeError, match="gpunet has no complex dtype"):
        gpunet.tensor([1 + 2j])
    with pytest.raises(TypeError, match="gpunet has no dtype for NumPy dtype uint16"):
        gpunet.tensor(np.array([1], dtype=np.uint16))
    with pytest.raises(ValueError, match="expected a number at dim 1"):
        gpunet.tensor([1, [2]])
    with pytest.raises(ValueError, match="expected sequence of length 2 at dim 1"):
        gpunet.tensor([np.array([1, 2]), [3]])


def test_dtype_inference_without_torch(device):
    def dt(data):
        return gpunet.tensor(data, device=device).dtype
    assert dt(collections.deque([1, 2])) == gpunet.int64
    assert dt([True, 1]) == gpunet.int64 and dt([True]) == gpunet.bool and dt([1, 0.5]) == gpunet.float32
    assert dt([np.float16(1), np.int64(2)]) == gpunet.float16  # a floating kind outranks any integer
    assert dt([np.uint8(1), np.int8(1)]) == gpunet.int16
    assert dt([gpunet.tensor(1, dtype=gpunet.int32)]) == gpunet.int32
    assert dt([[], []]) == gpunet.float32 and gpunet.tensor([[], []]).shape == (2, 0)
    assert gpunet.tensor(range(3), device=device).tolist() == [0, 1, 2]
    assert gpunet.tensor(Seq(Seq(1, 2), Seq(3, 4)), device=device).tolist() == [[1, 2], [3, 4]]
    old = gpunet.get_default_dtype()
    try:
        gpunet.set_default_dtype(gpunet.float64)
        assert dt([1.5]) == gpunet.float64 and dt([np.float32(1.5)]) == gpunet.float32
    finally:
        gpunet.set_default_dtype(old)


def test_tensors_in_data_are_read_not_kept(device):
    a = gpunet.tensor(2.0, device=device, requires_grad=True)
    t = gpunet.tensor([a, a * 2], device=device)
    assert t.tolist() == [2.0, 4.0] and not t.requires_grad and t.is_leaf


@pytest.mark.parametrize("ctor", ["as_tensor", "asarray", "Tensor", "FloatTensor", "LongTensor"])
def test_other_constructors_read_sequences(ctor):
    torch = pytest.importorskip("torch")
    for make in (lambda: collections.deque([1.5, 2]), lambda: range(3), lambda: Seq(1, 2)):
        _same(getattr(gpunet, ctor)(make()), getattr(torch, ctor)(make()))


def test_legacy_constructors_check_ranges_and_refuse_non_sequences():
    torch = pytest.importorskip("torch")
    _same(gpunet.ByteTensor([-1, 255]), torch.ByteTensor([-1, 255]))
    for lib in (gpunet, torch):
        with pytest.raises(RuntimeError, match="value cannot be converted to type uint8 without overflow"):
            lib.ByteTensor([256])
    for data in ((i for i in range(2)), np.float32(2.0), 2.5):
        with pytest.raises(TypeError, match="new\\(\\): data must be a sequence"):
            gpunet.Tensor(data)
        with pytest.raises(TypeError, match="new\\(\\): data must be a sequence"):
            torch.Tensor(data)
