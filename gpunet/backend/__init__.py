"""Devices: a Device carries `xp` (numpy or cupy) and `K` (kernels.cpu or kernels.cuda).

This package is the one place that tells a CuPy array from a NumPy one. Op code reads `xp`/`K`
from its inputs' device and never branches on the device type.
"""
import kernels  # noqa: F401  (must come before numba: it turns on the CUDA simulator when asked)


class Device:
    """`gpunet.device('cpu')`, `gpunet.device('cuda')`, `gpunet.device('cuda:0')`, `device('cuda', 0)`."""

    # K and xp are read on every op (ctx.device.K): slots filled on first use (__getattr__) cost less
    # than properties
    __slots__ = ("type", "index", "_backend", "K", "xp")

    def __init__(self, type, index=None):
        if isinstance(type, Device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, str):
            if ":" in type:
                if index is not None:
                    raise ValueError(f"device(): type {type!r} already names an index; got index={index}")
                type, _, idx = type.partition(":")
                try:
                    index = int(idx)
                except ValueError:
                    raise ValueError(f"device(): invalid device string {type}:{idx!r}") from None
        else:
            raise TypeError(f"device(): expected a string or a device, got {type!r}")
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"device(): device index must be non-negative, got {index}")
        self.type = type
        self.index = index
        self._backend = None

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (Device, (self.type, self.index))

    def __getattr__(self, name):  # only for an attribute not set yet
        if name in ("K", "xp"):
            value = getattr(self.backend, name)
            object.__setattr__(self, name, value)
            return value
        raise AttributeError(f"'device' object has no attribute '{name}'")

    @property
    def backend(self):
        """The backend module (xp, K, to_host, from_host, make_rng, scatter_add, synchronize,
        device_assert): gpunet's one device-to-backend lookup, made once per Device object."""
        backend = self._backend
        if backend is None:
            if self.type == "cpu":
                from gpunet.backend import cpu as backend
            else:
                from gpunet.backend import cuda as backend
                backend.require()  # says why there is no cuda device; nothing is cached until there is one
            self._backend = backend
        return backend


device = Device

CPU = Device("cpu")
CUDA0 = Device("cuda", 0)


def canonical(dev):
    """The interned Device a tensor stores: CPU, or CUDA0 (one GPU is supported)."""
    if dev is None:
        return CPU
    if dev is CPU or dev is CUDA0:
        return dev
    if isinstance(dev, int):
        dev = Device("cuda", dev)
    elif not isinstance(dev, Device):
        dev = Device(dev)
    if dev.type == "cpu":
        return CPU
    if dev.index not in (None, 0):
        from gpunet.backend import cuda as cuda_backend
        raise RuntimeError(f"CUDA device {dev} is not available: gpunet uses one GPU "
                           f"(device_count() == {cuda_backend.device_count()})")
    return CUDA0


def array_device(array):
    """The Device an array lives on: the only CuPy-versus-NumPy test in gpunet (a simulated device array,
    kernels.cuda.strict_sim.DeviceArray, is a cuda one)."""
    if type(array).__module__.startswith(("cupy", "kernels.cuda")):
        return CUDA0
    return CPU
