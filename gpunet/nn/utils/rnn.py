"""Padding variable-length sequences into one batch (torch.nn.utils.rnn.pad_sequence / unpad_sequence).

gpunet's RNNs take padded (optionally batch_first) input; packed sequences are not supported, so the
pack_* functions raise NotImplementedError naming the padded alternative.
"""

from gpunet.ops.creation import full
from gpunet.ops.shape import cat, stack
from gpunet.tensor import Tensor

__all__ = ["pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence", "unpad_sequence"]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) -- (B, max L, *) if batch_first -- filling
    with padding_value on the right (or left). Differentiable with respect to every sequence."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    max_len = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = max_len - s.shape[0]
        if n:
            fill = full((n,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, fill] if padding_side == "right" else [fill, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)  # time-major output is contiguous, as in PyTorch


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences: padded_sequences[i, :lengths[i]] (batch_first) for each i."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:int(n)] for seq, n in zip(padded_sequences, lengths)]


def _packed(name):
    def unsupported(*args, **kwargs):
        raise NotImplementedError(f"{name}: packed sequences are not supported by gpunet; "
                                  "pass the padded batch (pad_sequence) to the RNN and mask or index "
                                  "the outputs by length")
    unsupported.__name__ = name
    return unsupported


pack_padded_sequence = _packed("pack_padded_sequence")
pack_sequence = _packed("pack_sequence")
pad_packed_sequence = _packed("pad_packed_sequence")
