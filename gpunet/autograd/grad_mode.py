"""Grad mode: no_grad, enable_grad, set_grad_enabled, inference_mode (context managers and decorators)."""
import functools

from gpunet.tensor import _inference_mode

_enabled = [True]  # a one-element list: the hot path reads _enabled[0] without a function call


def is_grad_enabled():
    return _enabled[0]


def is_inference_mode_enabled():
    return _inference_mode[0]


class _GradMode:
    mode = True

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = self.mode

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Disable graph recording: `with gpunet.no_grad():` or `@gpunet.no_grad()`."""
    mode = False


class enable_grad(_GradMode):
    mode = True


class inference_mode(_GradMode):
    """No graph recording, and the tensors made inside are inference tensors (`Tensor.is_inference()`);
    `inference_mode(False)` turns both off inside it."""

    def __init__(self, mode=True):
        self.inference = bool(mode)
        self.mode = not mode

    def __enter__(self):
        self._prev = _enabled[0], _inference_mode[0]
        _enabled[0], _inference_mode[0] = self.mode, self.inference

    def __exit__(self, *exc):
        _enabled[0], _inference_mode[0] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(self.inference):
                return fn(*args, **kwargs)
        return wrapper


class set_grad_enabled(_GradMode):
    """Sets grad mode at once (as a function) and restores it when used as a context manager."""

    def __init__(self, mode):
        self._prev = _enabled[0]
        self.mode = bool(mode)
        _enabled[0] = self.mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False

    def __call__(self, fn):
        _enabled[0] = self._prev  # as a decorator it must not change the mode now
        return _with_mode(fn, self.mode)


def _with_mode(fn, mode):
    """fn wrapped to run with grad mode set to `mode`, restoring the caller's mode afterwards."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        prev = _enabled[0]
        _enabled[0] = mode
        try:
            return fn(*args, **kwargs)
        finally:
            _enabled[0] = prev
    return wrapper
