"""gpunet.backends: the switches scripts set at the top (`torch.backends.cudnn.benchmark = True`).

gpunet has no cuDNN and no MPS backend, so the flags are plain attributes that are kept and change
nothing; `is_available()` says so.
"""


class _Flags:
    """A namespace of settable flags."""

    def __init__(self, **flags):
        self.__dict__.update(flags)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class _Cudnn(_Flags):
    def is_available(self):
        return False

    def version(self):
        return None


class _Mps(_Flags):
    def is_available(self):
        return False

    def is_built(self):
        return False


cudnn = _Cudnn(enabled=True, benchmark=False, deterministic=False, allow_tf32=True)
mps = _Mps()
cuda = _Flags(matmul=_Flags(allow_tf32=False, allow_fp16_reduced_precision_reduction=True))
