"""Autocast's state and its one cast rule, consulted at the entry points of the ops PyTorch lists.

The state is per thread, as PyTorch's: for each device type, the lower-precision dtype while an autocast
region is active there, else absent. An op's entry point asks `if _policy.state.on:` (one attribute read
when no region is active anywhere in the thread) and only then calls `cast(op, *args)`, which gives back
the arguments with the op's floating-point tensors on the autocast device cast by the op's category:

- lower: to the autocast dtype (float16), as matmul/linear/conv run on tensor cores;
- fp32: float16 inputs to float32, for ops whose range or accuracy float16 would hurt;
- promote: every floating input to the widest floating dtype among them.

float64 tensors are never lowered, and tensors on another device type are left alone (PyTorch's rule).
Categories follow PyTorch's "Autocast Op Reference" for CUDA float16 and for CPU (whose float32 list is
shorter: losses and linear algebra, not softmax or exp).
"""
import threading

from gpunet import dtypes as _dt

LOWER = frozenset({"matmul", "mm", "bmm", "mv", "addmm", "baddbmm", "linear", "conv1d", "conv2d",
                   "conv_transpose1d", "conv_transpose2d", "einsum", "prelu"})
_LOSSES = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy_with_logits", "kl_div"}
_LINALG = {"linalg.inv", "linalg.det", "linalg.slogdet", "linalg.solve", "linalg.qr", "linalg.svd",
           "linalg.eigh", "linalg.cholesky", "linalg.norm", "prod"}
FP32 = {
    "cuda": frozenset(_LOSSES | _LINALG | {"softmax", "log_softmax", "softmin", "exp", "expm1", "log",
                                            "log1p", "log2", "log10", "pow", "reciprocal", "rsqrt", "sum",
                                            "cumsum", "cumprod", "norm", "layer_norm", "group_norm",
                                            "softplus", "tan", "asin", "acos", "sinh", "cosh"}),
    "cpu": frozenset(_LOSSES | _LINALG),
}
PROMOTE = frozenset({"addcmul", "addcdiv", "atan2", "cat", "stack", "dot", "cross"})


class _State(threading.local):
    on = False  # is any autocast region active in this thread (the one check of the fast path)
    dtypes = None  # {device type: dtype} of the active regions

    def __init__(self):
        self.dtypes = {}


state = _State()


def set_dtype(device_type, dtype):
    """Start (dtype) or stop (None) autocast for device_type in this thread; returns the previous dtype."""
    previous = state.dtypes.get(device_type)
    if dtype is None:
        state.dtypes.pop(device_type, None)
    else:
        state.dtypes[device_type] = dtype
    state.on = bool(state.dtypes)
    return previous


def _eligible(t, device_type):
    return hasattr(t, "_data") and t._device.type == device_type and t._data.dtype.kind == "f"


def cast(op, *args):
    """args with op's floating tensors cast for the autocast region of their device (see the module doc)."""
    device_type = next((a._device.type for a in args if hasattr(a, "_data")), None)
    low = state.dtypes.get(device_type)
    if low is None:
        return args
    if op in LOWER:  # float32 to float16; float64 stays
        return tuple(a.to(low) if _eligible(a, device_type) and a._data.dtype not in (low.np, _F64) else a
                     for a in args)
    if op in FP32[device_type]:
        return tuple(a.to(_dt.float32) if _eligible(a, device_type) and a._data.dtype == low.np else a
                     for a in args)
    if op in PROMOTE:
        floats = [a._data.dtype for a in args if _eligible(a, device_type)]
        if not floats:
            return args
        widest = max(floats, key=lambda d: d.itemsize)
        target = _dt.from_numpy_dtype(widest)
        return tuple(a.to(target) if _eligible(a, device_type) and a._data.dtype != widest else a
                     for a in args)
    return args


_F64 = _dt.float64.np
