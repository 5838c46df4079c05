"""embedding (one gather Op, gpunet.ops.embedding; backward scatter-adds rows, skipping padding_idx)
and one_hot."""
from gpunet.autograd.grad_mode import no_grad
from gpunet.nn.functional._common import check_same_device, check_tensor
from gpunet.ops.embedding import Embedding
from gpunet.tensor import _make

__all__ = ["embedding", "one_hot"]


def _renorm_rows(weight, indices, max_norm, norm_type):
    """Rescale (in place, untracked) the referenced rows whose norm exceeds max_norm, as PyTorch does."""
    xp = weight._device.xp
    with no_grad():
        w = weight._data
        rows = xp.unique(indices.reshape(-1))
        sel = w[rows]
        norms = (abs(sel) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
        w[rows] = sel * scale[:, None]
        weight._vc[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """weight[input]: look up rows of weight (num_embeddings, embedding_dim) by integer indices."""
    check_tensor(input, "input", "embedding")
    check_tensor(weight, "weight", "embedding")
    check_same_device("embedding", input, weight)
    if input._data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar "
                           f"types: Long, Int; but got {input.dtype} instead (while checking arguments for "
                           "embedding)")
    if weight._data.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape "
                           f"{list(weight._data.shape)}")
    if sparse:
        raise NotImplementedError("embedding(sparse=True): sparse gradients are not supported by gpunet")
    num = weight._data.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError(f"Padding_idx must be within num_embeddings (got padding_idx={padding_idx} "
                                 f"for {num} embeddings)")
        padding_idx = padding_idx % num
    idx = input._data
    weight._device.backend.device_assert(
        ("embedding", num), (idx < 0) | (idx >= num), idx,
        lambda v: IndexError(f"index out of range in self: embedding index {v} is outside [0, {num - 1}] "
                             f"(num_embeddings={num})"))
    if max_norm is not None:
        _renorm_rows(weight, idx, float(max_norm), float(norm_type))
    # the index tensor goes in as a Tensor, so an in-place change to it before backward is caught
    return Embedding.apply(weight, input, padding_idx, bool(scale_grad_by_freq))


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index."""
    check_tensor(tensor, "tensor", "one_hot")
    a = tensor._data
    if a.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor._device.xp
    backend = tensor._device.backend
    if num_classes == -1:
        if not a.size:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(backend.to_host(a.max())) + 1  # the output's shape depends on the data: a sync
    backend.device_assert(("one_hot", "negative"), a < 0, a,
                          lambda v: RuntimeError(f"Class values must be non-negative (got class {v})."))
    backend.device_assert(("one_hot", num_classes), a >= num_classes, a,
                          lambda v: RuntimeError(f"Class values must be smaller than num_classes (got "
                                                 f"class {v} for num_classes={num_classes})."))
    out = (a[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return _make(out, tensor._device)
