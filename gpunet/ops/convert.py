"""Moving between devices and dtypes: Tensor.to / .cuda / .cpu / .float ..., differentiable."""
from gpunet import dtypes as _dt
from gpunet.autograd.function import Op
from gpunet.backend import Device, canonical
from gpunet.tensor import Tensor, _make


class Cast(Op):
    _backward_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, np_dtype):
        ctx.in_dtype = a.dtype
        return a.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.in_dtype), None

    @staticmethod
    def backward_graph(ctx, g):
        return Cast.apply(g, ctx.in_dtype), None


class ToDevice(Op):
    _backward_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, target):
        ctx.source = ctx.device
        return _transfer(a, ctx.device, target)

    @staticmethod
    def backward(ctx, g):
        return _transfer(g, ctx.target_device, ctx.source), None

    @staticmethod
    def backward_graph(ctx, g):
        return to(g, ctx.source), None  # to() sets the output's device and the node's target_device


def _transfer(array, source, target):
    host = source.backend.to_host(array)
    return target.backend.from_host(host)


def _parse_to_args(args, kwargs):
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a._device, a.dtype
        elif isinstance(a, (_dt.dtype,)) or a in (float, int, bool):
            dtype = a
        elif isinstance(a, (str, Device, int)):
            device = a
        elif a is None:
            pass
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    return device, dtype, copy


def to(tensor, *args, **kwargs):
    device, dtype, copy = _parse_to_args(args, kwargs)
    out = tensor
    if dtype is not None:
        d = _dt.to_dtype(dtype)
        if out._data.dtype != d.np:
            if tensor._requires_grad and d.is_floating_point:
                out = Cast.apply(out, d.np)
            else:
                out = _make(out._data.astype(d.np), out._device)
            copy = False
    if device is not None:
        dev = canonical(device)
        if dev is not out._device:
            if out._requires_grad:
                node_out = ToDevice.apply(out, dev)
                if node_out.grad_fn is not None:
                    node_out.grad_fn.target_device = dev
                node_out._device = dev
                out = node_out
            else:
                out = _make(_transfer(out._data, out._device, dev), dev)
            copy = False
    if copy and out is tensor:
        out = tensor.clone()
    return out


_LEGACY_TYPES = {
    "torch.FloatTensor": _dt.float32, "torch.DoubleTensor": _dt.float64, "torch.HalfTensor": _dt.float16,
    "torch.LongTensor": _dt.int64, "torch.IntTensor": _dt.int32, "torch.ShortTensor": _dt.int16,
    "torch.CharTensor": _dt.int8, "torch.ByteTensor": _dt.uint8, "torch.BoolTensor": _dt.bool_,
}
_LEGACY_NAMES = {v.name: k for k, v in _LEGACY_TYPES.items()}


def legacy_type(tensor, dtype=None):
    """Tensor.type(): with no argument the legacy type name ('torch.FloatTensor'), else a cast."""
    if dtype is None:
        name = _LEGACY_NAMES[tensor.dtype.name]
        return name.replace("torch.", "torch.cuda.") if tensor._device.type == "cuda" else name
    if isinstance(dtype, str):
        key = dtype.replace("gpunet.", "torch.")
        on_cuda = ".cuda." in key
        key = key.replace("torch.cuda.", "torch.")
        if key not in _LEGACY_TYPES:
            raise ValueError(f"invalid type: {dtype!r}")
        out = tensor.to(_LEGACY_TYPES[key])
        return out.cuda() if on_cuda else out
    if isinstance(dtype, type) and hasattr(dtype, "_legacy_dtype"):
        return tensor.to(dtype._legacy_dtype)
    return tensor.to(dtype)
