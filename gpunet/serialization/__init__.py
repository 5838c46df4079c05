"""gpunet.save / gpunet.load, with PyTorch's safety model: loading never runs code from the file unless
the caller passes weights_only=False.

State dicts, optimizer states and nested dicts/lists/tuples of tensors, numbers and strings are saved
without pickle (version 1 below). Anything else (a whole Module, an optimizer, a user's class, a set)
is pickled, with its tensors kept outside the pickle as records of the same container (version 2).

File format (every integer little-endian)::

    offset 0   magic      8 bytes  b"GPUNETCK"
           8   version    u32      1 (pure data) or 2 (the root is a pickle)
          12   flags      u32      0 (reserved)
          16   json_len   u64      length M of the manifest
          24   json_crc   u32      CRC-32 of the manifest bytes
          28   reserved   u32      0
          32   manifest   M bytes  UTF-8 JSON (below)
               padding    zeros up to the next multiple of 64: the data section starts there
               data       raw little-endian bytes of the blobs, each blob at a 64-byte aligned offset

The manifest is a JSON object::

    {"format": "gpunet-checkpoint", "version": 1, "data_size": <bytes in the data section>,
     "blobs":   [{"offset": o, "nbytes": n, "crc32": c}, ...],     # offsets relative to the data section
     "tensors": [{"dtype": "float32", "shape": [2, 3], "strides": [3, 1], "blob": 0, "offset": 0,
                  "device": "cpu", "requires_grad": false, "parameter": false}, ...],
     "root": <value>}

In version 1, a value is a JSON null/bool/string/integer/finite float (None, bool, str, int, float), a
JSON array (list), or a tagged object {"T": tag, ...}: "tuple" {"v": [values]}; "dict" and "odict"
{"items": [[key, value], ...]} (keys are values too: int keys of optimizer state dicts and tuple keys
round-trip; "odict" may carry "meta", the `_metadata` of a state_dict); "float" {"v": "nan" | "inf" |
"-inf"}; "bytes" {"v": base64}; "dtype" {"v": "float32"}; "device" {"v": "cuda:0"}; "size" {"v":
[ints]}; "tensor" {"i": index into "tensors"} (the same Tensor object twice loads as one object);
"ndarray" {"i": index} (a NumPy array, loaded on the host). Only these exact types are encoded so;
subclasses (a namedtuple, a defaultdict) are pickled, which keeps their type.

In version 2 the root is {"T": "pickle", "blob": b}: blob b (used by no tensor) holds a pickle
(protocol 2 unless pickle_protocol says otherwise) whose persistent ids ("tensor", i) and ("ndarray",
i) refer to the tensor table. An older gpunet refuses such a file by its version number.

A tensor's bytes live in a blob: tensors that share memory (tied weights, views of one buffer) are
stored once, as one blob covering the bytes they use, and load back sharing memory, in both versions.
`offset` is in bytes within the blob and `strides` in elements. Parameters load back as Parameters
(with their requires_grad); plain tensors keep requires_grad too. NumPy scalars are saved as Python
numbers. gpunet files are not torch.load files, nor the reverse.

Loading validates everything before allocating: the magic (a pickle, a zip/torch .pt file or random
bytes gives a clear error naming the file), the manifest's CRC and structure, every blob range
against the file size (no overlaps), every tensor's dtype (allowlist), shape and strides against its
blob, and each blob's CRC. Saving to a path writes a temporary file in the same directory and renames
it over the target (os.replace), so a failure never leaves a partial file.
"""

import io
import os

from gpunet._storage import atomic_write
from gpunet.serialization import _tensor_pickle  # noqa: F401  (binds Tensor.__reduce_ex__)
from gpunet.serialization._format import CheckpointError
from gpunet.serialization._reader import Reader
from gpunet.serialization._weights_only import (
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)
from gpunet.serialization._writer import DEFAULT_PROTOCOL, write as _write

__all__ = [
    "save",
    "load",
    "CheckpointError",
    "add_safe_globals",
    "get_safe_globals",
    "clear_safe_globals",
    "safe_globals",
    "DEFAULT_PROTOCOL",
]


def save(obj, f, pickle_module=None, pickle_protocol=DEFAULT_PROTOCOL, _use_new_zipfile_serialization=True):
    """Save obj to a path or a binary file object.

    State dicts and nested dicts/lists/tuples of tensors, numbers and strings are written without
    pickle; any other picklable object (a whole Module, an optimizer, a user's class) is pickled with
    `pickle_module` (default: pickle) at `pickle_protocol` (2 or higher), its tensors stored outside
    the pickle (a cuda tensor's bytes copied to the host by its backend). A path is written atomically
    (temp file in the same directory, then os.replace). `_use_new_zipfile_serialization` is ignored.
    """
    if isinstance(f, (str, os.PathLike)):
        atomic_write(os.fspath(f), lambda fh: _write(fh, obj, pickle_module, pickle_protocol))
    elif hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError("gpunet.save: f must be opened in binary mode ('wb'), got a text file")
        _write(f, obj, pickle_module, pickle_protocol)
    else:
        raise TypeError(f"gpunet.save: f must be a path or a binary file object, got {type(f).__name__}")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Load an object saved by gpunet.save from a path or a binary file object.

    weights_only=True (the default; None means True): a checkpoint holding a pickle is unpickled with an
    allowlist (tensors, Parameters, gpunet dtypes and devices, Size, OrderedDict, Counter, builtin
    containers and scalars, plus what add_safe_globals / safe_globals added), so loading never runs
    code from the file; anything else raises pickle.UnpicklingError naming the refused class.
    weights_only=False unpickles anything, which EXECUTES CODE FROM THE FILE: use it only for files
    you trust (to load a whole Module saved with gpunet.save(model, f)). `pickle_module` (its
    Unpickler) is used only then. Pure-data checkpoints (state dicts) never unpickle either way.

    map_location: None (each tensor on the device it was saved from), a device or string ('cpu' loads
    CUDA tensors on a machine without a GPU), a dict {'cuda:0': 'cpu'} of saved -> target device, or
    a callable(tensor_on_cpu, saved_location) returning a Tensor (or None for the default); it applies
    to the tensors inside a pickled object (a Module's parameters and buffers) too. Parameters come
    back as Parameters, other tensors as Tensors (requires_grad kept). mmap is accepted and ignored.
    """
    if weights_only is None:
        weights_only = True
    if weights_only and pickle_module is not None:
        raise RuntimeError(
            "gpunet.load: cannot load weights safely with an explicit pickle_module: pass "
            "weights_only=False to use it (only for a file you trust)"
        )
    options = dict(map_location=map_location, weights_only=bool(weights_only), pickle_module=pickle_module)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return Reader(fh, name, exact=True, **options).load()
    if not hasattr(f, "read"):
        raise TypeError(f"gpunet.load: f must be a path or a binary file object, got {type(f).__name__}")
    if isinstance(f, io.TextIOBase):
        raise TypeError("gpunet.load: f must be opened in binary mode ('rb'), got a text file")
    name = getattr(f, "name", None) or f"<{type(f).__name__}>"
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return Reader(f, str(name), **options).load()
