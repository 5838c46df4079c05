"""gpunet.save / gpunet.load (being written: see the nn issue)."""


def save(obj, f):
    raise NotImplementedError("gpunet.save is not implemented yet")


def load(f, map_location=None):
    raise NotImplementedError("gpunet.load is not implemented yet")
