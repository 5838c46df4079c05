"""DataParallel on one device: a pass-through wrapper (gpunet runs one device per process; use
DistributedDataParallel with one process per device for more)."""
from gpunet.nn.module import Module


class DataParallel(Module):
    """Runs `module` unchanged on its own device; `module` attribute and `module.` state_dict keys as in
    PyTorch, so programs written for torch.nn.DataParallel run on one device."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
