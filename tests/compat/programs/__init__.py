"""Realistic small PyTorch programs, each written once against a `torch` argument (see _harness.py)."""
from . import custom, distributions, extras, models, sequence, tensors, training, tutorial  # noqa: F401  (registers them)
from ._harness import PROGRAMS, Init, assert_same  # noqa: F401
