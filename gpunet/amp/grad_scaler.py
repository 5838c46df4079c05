"""GradScaler: loss scaling for float16 training, with PyTorch's API and bookkeeping.

    scaler = gpunet.amp.GradScaler("cuda")
    scaler.scale(loss).backward()      # gradients of loss * scale: small float16 gradients stay nonzero
    scaler.step(optimizer)             # unscale_ the grads; skip optimizer.step() if any is inf/nan
    scaler.update()                    # back off the scale after a skipped step, grow it after
                                       # growth_interval clean steps

The scale and the growth tracker stay on the device and are updated there (no host round trip); step()
reads whether any gradient was non-finite once, through the backend's explicit to_host, as PyTorch's
step() synchronises once.
"""
import warnings

from gpunet.autograd.grad_mode import no_grad
from gpunet.backend import canonical
from gpunet.tensor import Tensor, _make

_READY, _UNSCALED, _STEPPED = 0, 1, 2
_FLOAT32_MAX = 3.4028234663852886e38


class GradScaler:
    """torch.amp.GradScaler(device='cuda', init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._enabled and canonical(self._device).type == "cuda":
            try:
                canonical(self._device).backend
            except RuntimeError:
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
        self._init_scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._scale = None  # device arrays, made at the first scale(): float32 scale, int32 tracker
        self._growth_tracker = None
        self._per_optimizer = {}  # id(optimizer) -> {"stage", "found_inf_per_device"}

    # ---- scaling -------------------------------------------------------------------------------------------
    def _lazy_init(self, dev):
        xp = dev.xp
        self._scale_device = dev
        self._scale = xp.full((), self._init_scale, dtype="float32")
        self._growth_tracker = xp.full((), self._init_growth_tracker, dtype="int32")

    def scale(self, outputs):
        """outputs (a tensor, or nested lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init(outputs._device)
            return outputs * self._on(outputs._device, self._scale, outputs._data.dtype)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _on(self, device, array, dtype):
        """A 0-d tensor of the scale's device array `array` on `device`, in dtype (floating) or float32."""
        if device != self._scale_device:  # another device than the first scale(): through the host
            array = device.backend.from_host(self._scale_device.backend.to_host(array))
        return _make(array.astype(dtype) if dtype.kind == "f" else array, device)

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf_per_device": {}})

    def unscale_(self, optimizer):
        """Divide optimizer's gradients by the scale in place, and record (on the device) whether any is
        inf or nan."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last "
                               "update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        self._check_scale_initialized("unscale_")
        found = state["found_inf_per_device"]
        inv = self._scale_device.xp.reciprocal(self._scale.astype("float64")).astype("float32")
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype.name == "float16":
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    g.mul_(self._on(g._device, inv, g._data.dtype))
                    bad = ~g._device.xp.isfinite(g._data).all()
                    key = g._device
                    found[key] = bad if key not in found else found[key] | bad
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """unscale_ (unless done), then optimizer.step(*args, **kwargs) unless a gradient is inf/nan.
        Returns what optimizer.step returned, or None when the step was skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_initialized("step")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if not state["found_inf_per_device"]:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not self._found_inf(state):  # the one device read per step
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def _found_inf(self, state):
        return any(bool(dev.backend.to_host(f)) for dev, f in state["found_inf_per_device"].items())

    def update(self, new_scale=None):
        """Back off the scale if any recorded step saw inf/nan, else count a clean step and grow the scale
        every growth_interval of them; or set new_scale (a float or a one-element tensor)."""
        if not self._enabled:
            return
        self._check_scale_initialized("update")
        xp = self._scale_device.xp
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1:
                    raise AssertionError("new_scale should be a float or a 1-element torch.cuda.FloatTensor "
                                         "or torch.FloatTensor with requires_grad=False.")
                value = new_scale._device.backend.to_host(new_scale._data).reshape(())
                self._scale = self._scale_device.backend.from_host(value.astype("float32"))
            else:
                self._scale = xp.full((), float(new_scale), dtype="float32")
        else:
            founds = [f for s in self._per_optimizer.values() for f in s["found_inf_per_device"].values()]
            if not founds:
                raise AssertionError("No inf checks were recorded prior to update.")
            found = founds[0]
            for f in founds[1:]:
                found = found | f  # (one device: gpunet runs on one GPU)
            tracker = xp.where(found, 0, self._growth_tracker + 1).astype("int32")
            due = tracker == self._growth_interval
            # a scale that growing would make inf stays (compared, never computed: no overflow)
            grow = due & (self._scale <= _FLOAT32_MAX / self._growth_factor)
            factor = xp.where(found, self._backoff_factor, xp.where(grow, self._growth_factor, 1.0))
            self._scale = (self._scale * factor).astype("float32")
            self._growth_tracker = xp.where(due, 0, tracker).astype("int32")
        self._per_optimizer = {}

    def _check_scale_initialized(self, funcname):
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  This may indicate your script "
                                 "did not use scaler.scale(loss or outputs) earlier in the iteration.")

    # ---- queries and state ---------------------------------------------------------------------------------
    def get_scale(self):
        """The scale as a Python float (a device read, as in PyTorch); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        if self._scale is None:
            return self._init_scale
        return float(self._scale_device.backend.to_host(self._scale))

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self):
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return int(self._scale_device.backend.to_host(self._growth_tracker))

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """PyTorch's layout: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker; {} when
        disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a "
                               "disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None:
            xp = self._scale_device.xp
            self._scale = xp.full((), self._init_scale, dtype="float32")
            self._growth_tracker = xp.full((), self._init_growth_tracker, dtype="int32")

