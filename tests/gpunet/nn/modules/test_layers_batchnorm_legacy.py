"""BatchNorm loads checkpoints written before num_batches_tracked existed (no version metadata)."""
import pytest

import gpunet
from gpunet import nn


def test_legacy_checkpoint_without_num_batches_tracked_loads():
    src = nn.BatchNorm2d(3)
    src.running_mean.fill_(2.0)
    # plain dict: no _metadata
    legacy = {k: v for k, v in src.state_dict().items() if k != "num_batches_tracked"}
    dst = nn.BatchNorm2d(3)
    dst.num_batches_tracked.fill_(7)
    result = dst.load_state_dict(legacy)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst.num_batches_tracked.item() == 0
    assert gpunet.equal(dst.running_mean, src.running_mean)


def test_current_checkpoint_missing_key_is_an_error():
    sd = nn.BatchNorm1d(3).state_dict()
    del sd["num_batches_tracked"]
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.BatchNorm1d(3).load_state_dict(sd)
