"""Random state: one generator per device, all seeded by gpunet.manual_seed."""
import numpy as np

_seeds = {"cpu": 0, "cuda": 0}
_rngs = {}


def rng_for(device):
    """The generator for a Device (created lazily from the last seed)."""
    rng = _rngs.get(device.type)
    if rng is None:
        rng = _rngs[device.type] = device.backend.make_rng(_seeds[device.type])
    return rng


def seed_device(dev_type, seed):
    _seeds[dev_type] = int(seed)
    _rngs.pop(dev_type, None)


def manual_seed(seed):
    """Seed every device's generator; returns a Generator for the CPU, as torch.manual_seed does."""
    seed = int(seed)
    for dev_type in _seeds:
        seed_device(dev_type, seed)
    return Generator().manual_seed(seed)


def seed():
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def initial_seed():
    return _seeds["cpu"]


class Generator:
    """A CPU random generator object (DataLoader(generator=...), randperm(generator=...))."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        self.device = device

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        return self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self
