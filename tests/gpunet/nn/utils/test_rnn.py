"""nn.utils.rnn: pad_sequence / unpad_sequence vs PyTorch, gradients, errors;
pack_* say they're unsupported."""
import numpy as np
import pytest

import gpunet
from gpunet.autograd import gradcheck
from gpunet.nn.utils import rnn

LENGTHS = (3, 1, 4)


def _seqs(lib, requires_grad=False, device="cpu"):
    rng = np.random.default_rng(0)
    return [lib.tensor(rng.standard_normal((n, 2)), requires_grad=requires_grad, device=device)
            for n in LENGTHS]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side, device):
    torch = pytest.importorskip("torch")
    got = rnn.pad_sequence(_seqs(gpunet, device=device), batch_first=batch_first, padding_value=-1.5,
                           padding_side=side)
    assert got.device.type == device
    ref = torch.nn.utils.rnn.pad_sequence(_seqs(torch), batch_first=batch_first, padding_value=-1.5,
                                          padding_side=side)
    assert tuple(got.shape) == tuple(ref.shape) and got.is_contiguous() == ref.is_contiguous()
    np.testing.assert_array_equal(got.cpu().numpy(), ref.numpy())


def test_pad_sequence_gradient_and_unpad_round_trip(device):
    seqs = _seqs(gpunet, requires_grad=True, device=device)
    assert gradcheck(lambda *s: rnn.pad_sequence(list(s), batch_first=True), tuple(seqs))
    padded = rnn.pad_sequence(seqs)
    back = rnn.unpad_sequence(padded, gpunet.tensor(LENGTHS))  # lengths on the cpu, as in torch
    assert all(gpunet.equal(a, b) for a, b in zip(back, seqs))


def test_pad_sequence_errors_and_packed_unsupported():
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        rnn.pad_sequence([])
    with pytest.raises(ValueError, match="padding_side"):
        rnn.pad_sequence([gpunet.ones(2)], padding_side="middle")
    with pytest.raises(NotImplementedError, match="packed sequences are not supported"):
        rnn.pack_padded_sequence(gpunet.ones(2, 1, 3), [2], batch_first=False)
