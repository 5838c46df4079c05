"""Parameter: a leaf Tensor that a Module registers as learnable when assigned as an attribute."""

from gpunet.ops.creation import empty
from gpunet.tensor import Tensor

__all__ = ["Parameter"]

_TENSOR_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")


class Parameter(Tensor):
    """`Parameter(data=None, requires_grad=True)`: shares `data`'s storage, is always a leaf.

    Operations on a Parameter return plain Tensors; `.data` and `.detach()` return Tensors too.
    Unlike Tensor, a Parameter accepts extra Python attributes (some libraries tag parameters).
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        p = _copy_slots(cls, data)
        # a Parameter is a leaf even when built from a computed tensor (PyTorch detaches it)
        p.grad_fn = None
        p._grad = None
        p._extra = None
        p._out_nr = 0
        p._requires_grad = False
        if requires_grad:
            p.requires_grad_(True)  # raises for integer dtypes, as PyTorch does
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    @classmethod
    def _from_tensor(cls, t):
        """A Parameter holding t's storage and metadata (used by legacy construction and deepcopy)."""
        return _copy_slots(cls, t)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        new = super().__deepcopy__(memo)
        if self.__dict__:
            import copy

            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __reduce_ex__(self, protocol):
        # the data pickles as a plain Tensor (gpunet.save stores it in the checkpoint's tensor table); extra
        # attributes come back through the state
        return (_rebuild_parameter, (self.detach(), self._requires_grad), self.__dict__ or None)


def _copy_slots(cls, t):
    p = object.__new__(cls)
    for name in _TENSOR_SLOTS:
        object.__setattr__(p, name, getattr(t, name))
    return p


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)
