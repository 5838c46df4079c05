"""Writes checkpoint_v1.gpunet, the fixture of test_compat.py, as gpunet.save did before pickling existed.

The checked-in file was written by main at 61086ff (gpunet/serialization.py, format version 1):
    PYTHONPATH=<that checkout> python make_checkpoint_v1.py
The current gpunet writes the same bytes for these objects (test_compat checks it).
"""
import math
import os
from collections import OrderedDict

import numpy as np


def fixture_object(gpunet):
    sd = OrderedDict()
    sd._metadata = OrderedDict([("", {"version": 1}), ("0", {"version": 1})])
    w = gpunet.nn.Parameter(gpunet.arange(6.0).reshape(2, 3))
    sd["0.weight"] = w
    sd["0.bias"] = gpunet.tensor([0.5, -0.5])
    sd["bn.num_batches_tracked"] = gpunet.tensor(7)
    base = gpunet.arange(8, dtype=gpunet.float64)
    return {
        "model": sd,
        "tied": w,
        "views": (base[:4], base[2:].reshape(2, 3), base.reshape(2, 4).t()),
        "optimizer": {"state": {0: {"step": gpunet.tensor(3.0), "exp_avg": gpunet.full((2,), 0.25)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
        "epoch": 3, "loss": math.inf, "name": "run-1", "blob": b"\x00\x01", "none": None,
        "dtype": gpunet.float16, "device": gpunet.device("cuda:0"), "size": gpunet.Size([2, 3]),
        "mask": gpunet.tensor([True, False]), "gpu": gpunet.tensor([1.5, 2.5], device="cuda"),
        "np": np.arange(3, dtype=np.int32),
    }


if __name__ == "__main__":
    os.environ.setdefault("GPUNET_CUDA_SIM", "1")  # "gpu" is saved from the (simulated) cuda device
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    import gpunet

    here = os.path.dirname(os.path.abspath(__file__))
    gpunet.save(fixture_object(gpunet), os.path.join(here, "checkpoint_v1.gpunet"))
