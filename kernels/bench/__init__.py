"""Benchmarks for the kernels: ``python -m kernels.bench [--device cpu|cuda] [--json] [--quick]``.

Each area module (conv, pool, optim, softmax) exposes ``rows(device, quick, roof)`` returning dicts with
keys: kernel, shape, ms (median), rate (GFLOP/s or GB/s), unit, pct_roof, torch_ms, ratio
(our time / PyTorch's time; < 1 means faster than PyTorch), note.
"""
