"""A training step on cuda never makes the host wait for the device unless the user asks for a value.

On a GPU, a device-to-host transfer (or an op whose output shape depends on the data) stalls the host
until the device has caught up, which empties the launch pipeline. The strict simulator counts each
such event (kernels.cuda.strict_sim.syncs); a LeNet step of the lenet_digits example (forward, loss,
backward, optimizer.step(), zero_grad) must count none.
"""
import importlib
import os
import sys

import pytest

import gpunet
import gpunet.nn.functional as F

if not gpunet.cuda.is_simulated():
    pytest.skip("counting synchronisations needs the strict simulator (GPUNET_CUDA_SIM=1)",
                allow_module_level=True)

from kernels.cuda import strict_sim  # noqa: E402

# Each steps the same model in turn (a conv net in the simulator is slow: one model, two optimizers;
# every algorithm shares the flat-bucket driver, so these two cover a host and a device 'step').
OPTIMIZERS = {
    "Adam (the example's)": lambda p: gpunet.optim.Adam(p, lr=1e-3),
    "Adam fused (its step lives on the device)": lambda p: gpunet.optim.Adam(p, lr=1e-3, fused=True),
}


def lenet_module():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    if os.path.abspath(path) not in sys.path:
        sys.path.insert(0, os.path.abspath(path))
    return importlib.import_module("lenet_digits")


@pytest.mark.slow  # ~1 min: LeNet's kernels and two optimizers' steps over 61,706 params in the simulator
def test_lenet_training_step_on_cuda_never_waits_for_the_device():
    gpunet.manual_seed(0)
    model = lenet_module().LeNet5().to("cuda")
    optimizers = {name: make(model.parameters()) for name, make in OPTIMIZERS.items()}
    x = gpunet.randn(1, 1, 32, 32, device="cuda")
    y = gpunet.tensor([7], device="cuda")
    strict_sim.syncs.clear()
    for _ in range(2):  # the first step creates the optimizers' state; the second is the steady state
        loss = F.cross_entropy(model(x), y)
        for optimizer in optimizers.values():
            optimizer.zero_grad()
        loss.backward()
        for name, optimizer in optimizers.items():
            optimizer.step()
            assert dict(strict_sim.syncs) == {}, name
    loss.item()  # asked for: one transfer, then one for the pending device asserts (the target range)
    assert dict(strict_sim.syncs) == {"asnumpy": 2}
