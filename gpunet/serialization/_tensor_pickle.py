"""Pickling a Tensor outside gpunet.save (pickle.dumps, multiprocessing queues): Tensor.__reduce_ex__.

A tensor pickles as a standalone pickle-free checkpoint of itself: its bytes copied from its device by
the backend's explicit transfer, its dtype, shape, strides, device and requires_grad in the manifest, all
validated when unpickled; it loads back on the device it was saved from. Inside gpunet.save the
pickler's persistent ids take tensors before this is consulted, so views keep sharing memory there;
tensors pickled one by one here do not share memory with each other after loading.

The method is bound onto Tensor when gpunet.serialization is imported (as gpunet.ops binds the tensor
methods): the tensor layer cannot import the checkpoint format, which sits above nn.
"""

import io
import pickle

from gpunet.serialization._reader import Reader
from gpunet.serialization._writer import write
from gpunet.tensor import Tensor


def _tensor_from_checkpoint(data):
    """Rebuild a pickled Tensor from the checkpoint bytes Tensor.__reduce_ex__ wrote (never unpickles)."""
    return Reader(io.BytesIO(data), "<pickled Tensor>", None, exact=True).load()


def _reduce_tensor(self, protocol):
    if type(self) is not Tensor:  # Parameter has its own __reduce_ex__
        raise pickle.PicklingError(
            f"gpunet: cannot pickle a {type(self).__qualname__}: only Tensor and Parameter pickle"
        )
    buf = io.BytesIO()
    write(buf, self)
    return (_tensor_from_checkpoint, (buf.getvalue(),))


Tensor.__reduce_ex__ = _reduce_tensor
