"""The checkpoint container's constants and the small checks its writer and reader share.

The layout itself is described in the package docstring (gpunet/serialization/__init__.py).
"""

import struct

from gpunet import dtypes as _dt

MAGIC = b"GPUNETCK"
VERSION = 1  # a pickle-free checkpoint: what every gpunet has written for the objects it supports
VERSION_PICKLE = 2  # the same container whose root is a pickle (tensors stay records of the container)
_HEADER = struct.Struct("<8sIIQII")  # magic, version, flags, json_len, json_crc, reserved
_ALIGN = 64
_MAX_DEPTH = 200
_MAX_NUMEL = 1 << 48
_DTYPES = {d.name: d for d in _dt.ALL}


class CheckpointError(RuntimeError):
    """A file that is not a valid gpunet checkpoint (truncated, corrupted or foreign)."""


def _align(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < (1 << 63)


def _valid_device(s):
    return s == "cpu" or s == "cuda" or (s.startswith("cuda:") and s[5:].isdigit() and len(s) < 12)


def _contiguous_strides(shape):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return strides[::-1]


def _foreign_hint(head):
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return (
            "; it looks like a pickle file, which gpunet never loads (pickle can run arbitrary code); "
            "convert it with PyTorch to a state dict of tensors saved with safetensors"
        )
    if head[:4] == b"PK\x03\x04":
        return (
            "; it looks like a zip archive such as a torch.save .pt file, which gpunet does not load "
            "(it holds a pickle); re-save the tensors with safetensors and use "
            "gpunet.nn.utils.load_safetensors"
        )
    if head[:8] and head[8:9] == b"{":
        return "; it looks like a safetensors file: use gpunet.nn.utils.load_safetensors"
    return ""
