"""Fused optimizer steps over ResNet-18's parameters (11.69M float32 in 62 tensors).

Each algorithm is timed three ways: (a) one kernel call per tensor; (b) one call over flat buffers holding
every tensor's param, grad and state; (c) one call over the flat param and state buffers with the 62 grads
passed as they are, a list of segments (how gpunet's optimizer calls it: the CPU kernel reads them in
place, the CUDA one gathers them first). The rate
is bytes moved per step (param, grad and state read once, param and state written once) over time,
judged against the in-place bandwidth roof (its 28 B/element pass re-timed over the same buffers in
the same rounds, since the shared machine's bandwidth drifts) and PyTorch's fastest path for the same
update (``fused=True`` where PyTorch supports it on the device, else its for-loop ``foreach=False``).
Times are the best of interleaved rounds (kernels.bench.common.interleaved_times).
"""
import math

import numpy as np

from kernels.bench import roof as roof_mod
from kernels.bench.common import interleaved_times, keep_heap, row, torch


def resnet18_shapes():
    """The 62 parameter shapes of torchvision's ResNet-18 (conv, BN weight/bias, fc), in order."""
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    in_ch = 64
    for out_ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            first_in = in_ch if block == 0 else out_ch
            shapes += [(out_ch, first_in, 3, 3), (out_ch,), (out_ch,),
                       (out_ch, out_ch, 3, 3), (out_ch,), (out_ch,)]
            if block == 0 and (stride != 1 or in_ch != out_ch):
                shapes += [(out_ch, in_ch, 1, 1), (out_ch,), (out_ch,)]  # downsample conv + BN
        in_ch = out_ch
    return shapes + [(1000, 512), (1000,)]


# one case: label, kernel call (K, [param, grad, state1, state2], step), PyTorch optimizer (class, kwargs),
# bytes moved per element
def _sgd(K, a, t):
    K.sgd_step(a[0], a[1], a[2], 0.01, 0.9, 0.0, 0.0, False, False, t == 1)


def _adam(K, a, t):
    K.adam_step(a[0], a[1], a[2], a[3], None, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False, t)


def _adamw(K, a, t):
    K.adam_step(a[0], a[1], a[2], a[3], None, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, False, False, t)


def _rmsprop(K, a, t):
    K.rmsprop_step(a[0], a[1], a[2], None, None, 1e-2, 0.99, 1e-8, 0.0, 0.0, False, False)


def _adagrad(K, a, t):
    K.adagrad_step(a[0], a[1], a[2], 1e-2, 0.0, 0.0, 1e-10, False, t)


CASES = [
    ("sgd_step momentum=0.9", _sgd, ("SGD", {"lr": 0.01, "momentum": 0.9}), 20),
    ("adam_step", _adam, ("Adam", {"lr": 1e-3}), 28),
    ("adam_step AdamW wd=0.01", _adamw, ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}), 28),
    ("rmsprop_step", _rmsprop, ("RMSprop", {"lr": 1e-2}), 20),
    ("adagrad_step", _adagrad, ("Adagrad", {"lr": 1e-2}), 20),
]


def _torch_step(device, shapes, grads_host, name, kwargs):
    """(PyTorch's fastest step for this optimizer as a callable, a note naming the path)."""
    if torch is None or (device == "cuda" and not torch.cuda.is_available()):
        return None, "no PyTorch"
    tdev = "cpu" if device == "cpu" else "cuda"
    params = [torch.nn.Parameter(torch.zeros(s, device=tdev)) for s in shapes]
    for p, g in zip(params, grads_host):
        p.grad = torch.as_tensor(g.reshape(p.shape), device=tdev)
    cls = getattr(torch.optim, name)
    try:
        opt, note = cls(params, fused=True, **kwargs), "fused=True"
        opt.step()
    except (TypeError, RuntimeError):
        opt, note = cls(params, foreach=False, **kwargs), "foreach=False"
    return opt.step, f"torch {name}({note})"


def _steps(K, step_fn, per_tensor, flat):
    """Three callables doing one optimizer step: a kernel call per tensor, one over the flat buffers, and one
    over the flat param and state with the per-tensor grads as segments."""
    counter = {"t": 0}

    def per_tensor_step():
        counter["t"] += 1
        for arrays in per_tensor:
            step_fn(K, arrays, counter["t"])

    def flat_step():
        counter["t"] += 1
        step_fn(K, flat, counter["t"])

    segmented = [flat[0], [arrays[1] for arrays in per_tensor], *flat[2:]]

    def segments_step():
        counter["t"] += 1
        step_fn(K, segmented, counter["t"])

    return per_tensor_step, flat_step, segments_step


def _roof_pass(device, flat):
    """The roof's in-place 28 B/element pass over the flat buffers (timed alongside the steps)."""
    if device == "cuda":
        return lambda: roof_mod.cuda_inplace_pass(*flat)
    return lambda: roof_mod._inplace_pass(*flat)


def rows(device, quick, roof):
    """Rows for the bench table; %roof uses the roof pass re-timed alongside each case, not `roof`."""
    if device == "cuda":
        from kernels.cuda._launch import SIMULATOR, xp
        if SIMULATOR:
            return []  # 11.7M elements in the simulator would take hours
        import kernels.cuda as K
    else:
        import kernels.cpu as K
        xp = np
    keep_heap()
    shapes = resnet18_shapes()
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    rng = np.random.default_rng(0)
    grads_host = [(0.01 * rng.standard_normal(n)).astype(np.float32) for n in sizes]
    grad_flat = xp.asarray(np.concatenate(grads_host))
    flat = [xp.zeros(total, np.float32), grad_flat, xp.zeros(total, np.float32), xp.zeros(total, np.float32)]
    flat[0][:] = 0.5
    per_tensor = [[xp.full(n, 0.5, np.float32), xp.asarray(g), xp.zeros(n, np.float32),
                   xp.zeros(n, np.float32)] for n, g in zip(sizes, grads_host)]
    repeat = 7 if quick else 25
    shape_note = f"{total / 1e6:.2f}M f32 in {len(shapes)} tensors"
    torch_dev = "torch-cuda" if device == "cuda" else "cpu"
    out = []
    for label, step_fn, (torch_name, kwargs), bytes_per in CASES:
        for arrays in [flat] + per_tensor:  # fresh state per algorithm
            arrays[2][:] = 0.0
            arrays[3][:] = 0.0
        per_tensor_step, flat_step, segments_step = _steps(K, step_fn, per_tensor, flat)
        torch_step, torch_note = _torch_step(device, shapes, grads_host, torch_name, kwargs)
        fns = [per_tensor_step, flat_step, segments_step, _roof_pass(device, flat)]
        devices = [device] * len(fns)
        if torch_step is not None:
            fns.append(torch_step)
            devices.append(torch_dev)
        t_tensor, t_flat, t_segments, t_roof, *t_torch = interleaved_times(fns, devices, repeat, stat="min")
        t_torch = t_torch[0] if t_torch else None
        # the machine's bandwidth drifts with other load: judge against the roof timed in the same rounds
        local_roof = {"GB/s": 28 * total / t_roof / 1e9}
        work = bytes_per * total
        note = f"{bytes_per} B/elem; roof {local_roof['GB/s']:.0f} GB/s in-run; vs {torch_note}"
        out.append(row(label + " per-tensor", shape_note, t_tensor, work, "GB/s", local_roof, t_torch, note))
        out.append(row(label + " flat", shape_note + " (1 call)", t_flat, work, "GB/s", local_roof, t_torch,
                       note))
        out.append(row(label + " segments", shape_note + " (1 call)", t_segments, work, "GB/s", local_roof,
                       t_torch, note))
        del torch_step
    return out
