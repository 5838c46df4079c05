"""Tensor: a backend array (numpy or cupy) plus autograd metadata.

Tensor is a leaf of the package: it imports only the layers below it (dtypes, backend) and small
helpers that import nothing of gpunet (printing, hook handles). Everything computed from a tensor
(operators, math, shape and device methods, backward) is an op: gpunet.ops binds those methods
onto Tensor when it is imported (ops/methods.py), and `import gpunet` imports ops.

The hot path (`_make`, the operators, `Op.apply`) stays lean: __slots__, no per-op objects beyond
the graph node, and validation only where it costs nothing on the common path.
"""
import weakref

import numpy as np

from gpunet import _naming, dtypes as _dt
from gpunet._repr import tensor_repr
from gpunet.backend import CPU, canonical
from gpunet.utils.hooks import RemovableHandle

_new = object.__new__
_np_generic = np.generic
_FROM_NP = _dt._FROM_NP
# inference mode is on (set by autograd's inference_mode): the tensors made meanwhile are inference tensors
_inference_mode = [False]


def _make(data, device, requires_grad=False, grad_fn=None, nr=0):
    """Wrap an array as a Tensor without any checks (the internal constructor)."""
    if isinstance(data, _np_generic):  # numpy reductions return scalars; tensors hold arrays
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._device = device
    t._requires_grad = requires_grad
    t.grad_fn = grad_fn
    t._grad = None
    t._vc = [0]
    t._out_nr = nr
    t._extra = {"inference": True} if _inference_mode[0] else None
    return t


class Size(tuple):
    """The shape of a tensor (`torch.Size`): a tuple that prints like PyTorch's."""

    def __repr__(self):
        return _naming.public(f"Size({list(self)})")

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r


class Tensor:
    """A multi-dimensional array with autograd, on the CPU (NumPy) or a CUDA device (CuPy)."""

    __slots__ = ("_data", "_device", "_requires_grad", "grad_fn", "_grad", "_vc", "_out_nr", "_extra",
                 "__weakref__")
    __array_priority__ = 1000  # numpy_scalar * tensor dispatches to Tensor.__rmul__

    # Tensor(data) / Tensor(*sizes), the legacy constructor, is bound by ops (ops.creation.legacy_new)
    def __init__(self, *args, **kwargs):
        pass

    # ---- metadata -------------------------------------------------------------------------------
    @property
    def data(self):
        return _make(self._data, self._device)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        self._data = value._data
        self._device = value._device

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self):
        return _FROM_NP[self._data.dtype]

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    @property
    def is_cpu(self):
        return self._device.type == "cpu"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError("assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError("assigned grad has data of a different size: "
                                   f"grad {list(value._data.shape)} vs tensor {list(self._data.shape)}")
            if value._device is not self._device:
                raise RuntimeError(f"assigned grad has data located on a different device: {value._device} "
                                   f"vs tensor {self._device}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError("assigned grad has data of a different type: "
                                   f"{value.dtype} vs {self.dtype}")
        self._grad = value

    @property
    def _version(self):
        return self._vc[0]

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.dtype.itemsize

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_complex(self):
        return False  # gpunet has no complex dtypes

    def is_signed(self):
        return self._data.dtype.kind in "if"

    def is_conj(self):
        return False

    def is_neg(self):
        return False

    def is_distributed(self):
        return False

    def is_inference(self):
        """True for a tensor made inside `inference_mode()`."""
        return bool(self._extra_get("inference"))

    def is_same_size(self, other):
        return self._data.shape == other._data.shape

    def is_set_to(self, tensor):
        """True when both tensors view the same memory with the same shape and strides."""
        return (self._device is tensor._device and self._data.dtype == tensor._data.dtype
                and self._data.shape == tensor._data.shape and self._data.strides == tensor._data.strides
                and self.data_ptr() == tensor.data_ptr())

    def is_nonzero(self):
        if self._data.size == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        return self.__bool__()

    def is_coalesced(self):
        raise RuntimeError("is_coalesced expected sparse coordinate tensor layout but got Strided "
                           "(gpunet has no sparse tensors)")

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        st = tuple(s // self._data.dtype.itemsize for s in self._data.strides)
        return st if dim is None else st[_dim(dim, self._data.ndim, "stride")]

    def data_ptr(self):
        d = self._data
        return d.__array_interface__["data"][0] if isinstance(d, np.ndarray) else d.data.ptr

    def get_device(self):
        return -1 if self._device.type == "cpu" else 0

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__  # by identity, as torch.Tensor (and in C: optimizer state is keyed by params)

    def __bool__(self):
        if self._data.size == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                               f"(shape {list(self._data.shape)})")
        return bool(self._host().item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._host().item())

    def __complex__(self):
        return complex(self.item())

    def __repr__(self):
        return tensor_repr(self)

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __copy__(self):
        # copy.copy: a new Tensor object sharing this one's data and metadata (pickling, which the copy module
        # would otherwise fall back to, writes the data out: gpunet.serialization binds __reduce_ex__)
        new = _new(type(self))
        for name in _COPIED_SLOTS:
            setattr(new, name, getattr(self, name))
        extra = getattr(self, "__dict__", None)  # a subclass's (a Parameter's) attributes
        if extra:
            new.__dict__.update(extra)
        return new

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol at the moment")
        new = _make(self._data.copy(), self._device, self._requires_grad)
        if type(self) is not Tensor:
            new = type(self)._from_tensor(new)
        if self._grad is not None:
            new._grad = _make(self._grad._data.copy(), self._device)
        memo[id(self)] = new
        return new

    # ---- conversion -----------------------------------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._host().item()

    def tolist(self):
        return self._host().tolist()

    def _host(self):
        if self._device is CPU:
            return self._data
        return self._device.backend.to_host(self._data)

    def numpy(self, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if self._device is not CPU and not force:
            raise TypeError(f"can't convert {self._device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    # ---- autograd (backward is bound by ops: it runs gpunet.autograd's engine) --------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients "
                               f"(got {self.dtype})")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. "
                               "If you want to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        self._requires_grad = bool(requires_grad)
        return self

    def detach(self):
        t = _make(self._data, self._device)
        t._vc = self._vc
        return t

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._extra_get("retains_grad"):
            return
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                g = grad._data
                t._grad = (_make(g.copy(), t._device) if t._grad is None
                           else _make(t._grad._data + g, t._device))
        self._extra_set("retains_grad", True)
        self._add_node_hook(keep)

    @property
    def retains_grad(self):
        return bool(self._extra_get("retains_grad"))

    def register_hook(self, hook):
        """Call hook(grad) when the gradient for this tensor is computed; it may return a new grad."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            hooks = self._extra_setdefault("hooks", [])
        else:
            hooks = self._add_node_hook(None)
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) after backward has accumulated a gradient into this leaf's .grad (once per
        backward, with the summed gradient); autograd.grad, which leaves .grad alone, never calls it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self._extra_setdefault("post_accumulate_hooks", [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def _add_node_hook(self, fn):
        node = self.grad_fn
        if node._hooks is None:
            node._hooks = {}
        hooks = node._hooks.setdefault(self._out_nr, [])
        if fn is not None:
            hooks.append(fn)
        return hooks

    def _extra_get(self, key):
        return None if self._extra is None else self._extra.get(key)

    def _extra_set(self, key, value):
        if self._extra is None:
            self._extra = {}
        self._extra[key] = value

    def _extra_setdefault(self, key, value):
        if self._extra is None:
            self._extra = {}
        return self._extra.setdefault(key, value)

    # ---- device and dtype (to() and type() are ops, bound by ops.methods) -----------------------
    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else canonical(device))

    def cpu(self):
        return self.to(CPU)

    def type_as(self, other):
        return self.to(other.dtype)

    def float(self):
        return self.to(_dt.float32)

    def double(self):
        return self.to(_dt.float64)

    def half(self):
        return self.to(_dt.float16)

    def long(self):
        return self.to(_dt.int64)

    def int(self):
        return self.to(_dt.int32)

    def short(self):
        return self.to(_dt.int16)

    def char(self):
        return self.to(_dt.int8)

    def byte(self):
        return self.to(_dt.uint8)

    def bool(self):
        return self.to(_dt.bool_)

    def pin_memory(self):
        return self

    def share_memory_(self):
        return self

    def is_pinned(self):
        return False

    def is_shared(self):
        return False


_COPIED_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")


def _false(self):
    return False


# Device and layout predicates of kinds gpunet never makes (devices it lacks, sparse, quantized, nested
# tensors): False for every tensor, as PyTorch answers for a dense CPU or CUDA one.
for _name in ("is_meta", "is_mps", "is_xpu", "is_xla", "is_ipu", "is_maia", "is_mtia", "is_vulkan",
              "is_mkldnn", "is_sparse", "is_sparse_csr", "is_quantized", "is_nested"):
    setattr(Tensor, _name, property(_false))
del _name


def _dim(dim, ndim, op):
    """Normalise a possibly negative dim, with PyTorch's error for an out-of-range one."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def _is_tensor(x):
    return isinstance(x, Tensor)
