"""CPU backend: NumPy arrays and kernels.cpu."""
import numpy as xp  # noqa: F401

import kernels.cpu as K  # noqa: F401


def to_host(array):
    return array


def from_host(array):
    return array


def make_rng(seed):
    return xp.random.Generator(xp.random.PCG64(seed))


def synchronize():
    pass


def scatter_add(target, index, values):
    """target[index] += values, accumulating repeated indices (numpy's unbuffered add.at)."""
    xp.add.at(target, index, values)
