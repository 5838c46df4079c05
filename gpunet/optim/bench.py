"""python -m gpunet.optim.bench [--quick] [--device cpu|cuda]: one full ``optimizer.step()`` over ResNet-18's
parameters (11.69M float32 in 62 tensors, grads set), against PyTorch's fastest path in the same run.

For SGD (momentum 0.9), Adam, AdamW, RMSprop and Adagrad it reports the median (``--stat min``: the
fastest) step time of

- gpunet's optimizer as it runs by default (flat param and state buffers, one fused-kernel call per group
  reading the grads in place; CUDA gathers the grads first),
- the same optimizer with one kernel call per tensor (what the flat layout saves),
- PyTorch's fastest CPU path for that algorithm: ``fused=True`` where PyTorch supports it, else
  ``foreach=False`` (its for-loop, faster than foreach on the CPU); the table names the path,

and the bandwidth the default step reaches: bytes per element moved by the algorithm (Adam: read p, g, m, v
and write p, m, v = 28 B) times elements over time, as a percentage of the in-place bandwidth roof of
``kernels.bench.roof.measure`` (28 B/element, parallel Numba) measured at the start of the run, and of
the same roof pass re-timed between the steps (this machine's load drifts; ratios within a round hold).
"""
import argparse
import math
import sys

import numpy as np

from gpunet import optim
from gpunet.ops.creation import full, tensor
from kernels.bench.common import interleaved_times, keep_heap
from kernels.bench.optim import resnet18_shapes

CASES = [  # label, class name, kwargs, bytes moved per element
    ("SGD momentum=0.9", "SGD", dict(lr=0.01, momentum=0.9), 20),
    ("Adam", "Adam", dict(lr=1e-3), 28),
    ("AdamW wd=0.01", "AdamW", dict(lr=1e-3, weight_decay=0.01), 28),
    ("RMSprop", "RMSprop", dict(lr=1e-2), 20),
    ("Adagrad", "Adagrad", dict(lr=1e-2), 20),
]


def _gpunet_step(name, kwargs, shapes, grads, device, flat_devices):
    params = [full(s, 0.5, device=device).requires_grad_() for s in shapes]
    for p, g in zip(params, grads):
        p.grad = tensor(g.reshape(tuple(p.shape)), device=device)
    opt = getattr(optim, name)(params, **kwargs)
    if flat_devices is not None:
        opt._flat_devices = flat_devices
    return opt.step


def _torch_step(name, kwargs, shapes, grads, device):
    try:
        import torch
    except ImportError:
        return None, "no PyTorch"
    if device == "cuda" and not torch.cuda.is_available():
        return None, "no PyTorch CUDA"
    params = [torch.nn.Parameter(torch.full(s, 0.5, device=device)) for s in shapes]
    for p, g in zip(params, grads):
        p.grad = torch.as_tensor(g.reshape(p.shape), device=device)
    cls = getattr(torch.optim, name)
    try:
        opt, path = cls(params, fused=True, **kwargs), "fused=True"
        opt.step()
    except (TypeError, RuntimeError):
        opt, path = cls(params, foreach=False, **kwargs), "foreach=False"
    return opt.step, f"{name}({path})"


def _roof_pass(device, n):
    from kernels.bench import roof
    if device == "cuda":
        from kernels.cuda._launch import launch, xp
        arrays = [xp.full(n, 0.5, dtype=np.float32) for _ in range(4)]
        kernel = roof._cuda_inplace_kernel()
        return lambda: launch(kernel, n, *arrays)
    arrays = [np.full(n, 0.5, dtype=np.float32) for _ in range(4)]
    return lambda: roof._inplace_pass(*arrays)


def run(device="cpu", quick=False, stat="median"):
    """Measure every case; returns (rows, roof GB/s from kernels.bench.roof.measure)."""
    from kernels.bench import roof
    keep_heap()
    roof_gbs = roof.measure(device, quick)["GB/s"]
    shapes = resnet18_shapes()
    total = sum(math.prod(s) for s in shapes)
    rng = np.random.default_rng(0)
    grads = [(0.01 * rng.standard_normal(math.prod(s))).astype(np.float32) for s in shapes]
    repeat = 3 if quick else 7
    roof_fn = _roof_pass(device, total)
    rows = []
    for label, name, kwargs, bytes_per in CASES:
        fns = [_gpunet_step(name, kwargs, shapes, grads, device, None),
               _gpunet_step(name, kwargs, shapes, grads, device, frozenset()), roof_fn]
        torch_fn, torch_path = _torch_step(name, kwargs, shapes, grads, device)
        if torch_fn is not None:
            fns.append(torch_fn)
        devices = [device] * 3 + ["torch-cuda" if device == "cuda" else "cpu"] * (len(fns) - 3)
        t_default, t_tensor, t_roof, *t_torch = interleaved_times(fns, devices, repeat, stat, warmup=3)
        gbs = bytes_per * total / t_default / 1e9
        rows.append(dict(label=label, ms=t_default * 1e3, tensor_ms=t_tensor * 1e3,
                         torch_ms=t_torch[0] * 1e3 if t_torch else None, torch_path=torch_path,
                         ratio=t_default / t_torch[0] if t_torch else None, bytes_per=bytes_per, gbs=gbs,
                         pct_roof=100 * gbs / roof_gbs if roof_gbs else None,
                         pct_inrun=100 * gbs / (28 * total / t_roof / 1e9)))
        del fns, torch_fn
    return rows, roof_gbs, total, len(shapes)


LEGEND = """\
gpunet ms: the default (flat buffers, one kernel call per group); per-tensor: a kernel call per tensor.
  ratio = gpunet default / PyTorch (below 1: faster). GB/s and %roof
  are the default's; %roof: of the roof measured at the start; %roof*: of the same roof pass timed in
  the same rounds as the steps (the machine's load drifts)."""


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gpunet.optim.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller roof measurement")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="statistic over the rounds (min approximates a quiet machine on a busy one)")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import kernels
        if kernels.simulator_enabled():
            sys.exit("gpunet.optim.bench: the CUDA simulator is far too slow for 11.7M elements; "
                     "use a real GPU")
    rows, roof_gbs, total, n = run(args.device, args.quick, args.stat)
    print(f"optimizer.step() over {total / 1e6:.2f}M float32 params in {n} tensors (ResNet-18 shapes), "
          f"device {args.device}; in-place bandwidth roof (kernels.bench.roof.measure): "
          f"{_fmt(roof_gbs, '.1f')} GB/s; {args.stat} times")
    head = (f"{'optimizer':<18} {'gpunet ms':>9} {'per-tensor':>10} {'torch ms':>9} "
            f"{'ratio':>6} {'B/el':>5} {'GB/s':>6} {'%roof':>6} {'%roof*':>6}  PyTorch path")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['label']:<18} {r['ms']:>9.2f} {r['tensor_ms']:>10.2f} "
              f"{_fmt(r['torch_ms'], '.2f'):>9} {_fmt(r['ratio'], '.2f'):>6} {r['bytes_per']:>5} "
              f"{r['gbs']:>6.1f} {_fmt(r['pct_roof'], '.0f'):>6} {r['pct_inrun']:>6.0f}  {r['torch_path']}")
    print(LEGEND)


if __name__ == "__main__":
    main()
