"""Realistic small PyTorch programs, each written once against a `torch` argument (see _harness.py)."""
from . import custom, extras, models, sequence, tensors, training, tutorial  # noqa: F401  (registers the programs)
from ._harness import PROGRAMS, Init, assert_same  # noqa: F401
