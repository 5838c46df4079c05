"""conv2d benchmark rows: forward and forward+backward against PyTorch measured in the same run.

FLOPs per pass = 2 * N * C_out * Ho * Wo * (C_in / groups) * kH * kW; forward+backward = 3 passes
(forward, grad input, grad weight).
"""
import numpy as np

from kernels.bench.common import BLAS_SETTLE_S, compare, row, torch

# (name, N, C_in, H, W, C_out, k, padding)
SHAPES = [
    ("LeNet c1", 64, 3, 32, 32, 6, 5, 0),
    ("LeNet c2", 64, 6, 14, 14, 16, 5, 0),
    ("ResNet 3x3", 32, 64, 32, 32, 64, 3, 1),
    ("16->32 3x3", 64, 16, 32, 32, 32, 3, 1),
]
# the CUDA simulator runs a few kernel threads per millisecond: one tiny shape, as a smoke test only
SIM_SHAPES = [("tiny (simulator)", 2, 3, 8, 8, 4, 3, 1)]


def _flops(N, C, H, W, C_out, k, p):
    Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
    return 2.0 * N * C_out * Ho * Wo * C * k * k


def _torch_fns(device, N, C, H, W, C_out, k, p):
    """PyTorch's forward and forward+backward of the same conv, as callables (None without PyTorch)."""
    if torch is None or (device == "cuda" and not torch.cuda.is_available()):
        return None, None
    dev = "cuda" if device == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, H, W, generator=gen).to(dev)
    w = torch.randn(C_out, C, k, k, generator=gen).to(dev)
    b = torch.randn(C_out, generator=gen).to(dev)
    F = torch.nn.functional

    def fwd():
        with torch.no_grad():
            return F.conv2d(x, w, b, padding=p)

    xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
    gy = torch.ones(N, C_out, H + 2 * p - k + 1, W + 2 * p - k + 1, device=dev)

    def fwd_bwd():
        xg.grad = wg.grad = bg.grad = None  # assign, don't accumulate, as our kernels do
        F.conv2d(xg, wg, bg, padding=p).backward(gy)

    return fwd, fwd_bwd


def rows(device, quick, roof):
    if device == "cuda":
        import kernels.cuda as K
        from kernels.cuda._launch import SIMULATOR, xp
    else:
        import kernels.cpu as K
        SIMULATOR, xp = False, np
    shapes = SIM_SHAPES if SIMULATOR else SHAPES
    repeat = 1 if SIMULATOR else (3 if quick else 7)  # rounds of 3 timed calls each
    out = []
    rng = np.random.default_rng(0)
    for name, N, C, H, W, C_out, k, p in shapes:
        x = xp.asarray(rng.standard_normal((N, C, H, W), dtype=np.float32))
        w = xp.asarray(rng.standard_normal((C_out, C, k, k), dtype=np.float32))
        b = xp.asarray(rng.standard_normal(C_out, dtype=np.float32))
        gy = xp.ones((N, C_out, H + 2 * p - k + 1, W + 2 * p - k + 1), dtype=np.float32)
        args = ((1, 1), (p, p), (1, 1), 1)

        def fwd(x=x, w=w, b=b, args=args):
            return K.conv2d_forward(x, w, b, *args)

        def fwd_bwd(x=x, w=w, b=b, gy=gy, args=args):
            # as gpunet's conv2d in training: forward keeps its columns (when small) for backward
            _, cols = K.conv2d_forward(x, w, b, *args, keep_columns=True)
            return K.conv2d_backward(gy, x, w, *args, (True, True, True), cols)

        torch_fwd, torch_fb = (None, None) if SIMULATOR else _torch_fns(device, N, C, H, W, C_out, k, p)
        rounds = dict(warmup=1, per_round=1) if SIMULATOR else dict(settle=BLAS_SETTLE_S)
        t_fwd, tt_fwd = compare(fwd, torch_fwd, device, repeat, **rounds)
        t_fb, tt_fb = compare(fwd_bwd, torch_fb, device, repeat, **rounds)
        shape = f"{N}x{C}x{H}x{W}->{C_out} k{k} p{p}"
        flops = _flops(N, C, H, W, C_out, k, p)
        note = "CUDA simulator: smoke test, times meaningless" if SIMULATOR else name
        out.append(row("conv2d fwd", shape, t_fwd, flops, "GFLOP/s", roof, tt_fwd, note))
        out.append(row("conv2d fwd+bwd", shape, t_fb, 3 * flops, "GFLOP/s", roof, tt_fb, note))
    return out
