"""Forward + backward of one TransformerEncoderLayer on gpunet and PyTorch (CPU), side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python examples/benchmark_transformer.py [--runs 7]

The layer: d_model 256, 4 heads, dim_feedforward 2048 (PyTorch's default), dropout 0 (so both libraries
run the same arithmetic, and gpunet's attention takes its blocked path), batch_first, float32, input
(16, 128, 256). One run = forward, then backward of sum(out * seed). The two libraries alternate run by
run (the machine is shared and noisy); the medians are compared:
ratio = gpunet median / PyTorch median (1.0 is parity; below 1, gpunet is faster).
Also times scaled_dot_product_attention alone on (16, 4, 128, 64).
"""
import argparse
import statistics
import time

import numpy as np

import gpunet

try:
    import torch
except ImportError:
    torch = None


def _layer_case(lib, rng_state):
    lib.manual_seed(0)
    layer = lib.nn.TransformerEncoderLayer(256, 4, dropout=0.0, batch_first=True)
    x = lib.tensor(rng_state["x"], requires_grad=True)
    seed = lib.tensor(rng_state["seed"])

    def run():
        out = layer(x)
        (out * seed).sum().backward()
        layer.zero_grad()
        x.grad = None
    return layer, run


def _sdpa_case(lib, rng_state):
    q, k, v = (lib.tensor(a, requires_grad=True) for a in rng_state["qkv"])
    F = lib.nn.functional

    def run():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.sum().backward()
        for t in (q, k, v):
            t.grad = None
    return None, run


def _time(run):
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def compare(name, case, libs, data, runs):
    made = {}
    for lib in libs:
        layer, run = case(lib, data)
        made[lib.__name__] = (layer, run)
    gl, tl = made["gpunet"][0], made.get("torch", (None,))[0]
    if gl is not None and tl is not None:  # identical weights
        tl.load_state_dict({k: torch.tensor(v.numpy()) for k, v in gl.state_dict().items()})
    times = {lib.__name__: [] for lib in libs}
    for lib in libs:
        made[lib.__name__][1]()  # warm-up
    for _ in range(runs):
        for lib in libs:
            times[lib.__name__].append(_time(made[lib.__name__][1]))
    med = {k: statistics.median(v) for k, v in times.items()}
    line = f"{name}: gpunet {med['gpunet'] * 1e3:.1f} ms"
    if "torch" in med:
        line += f", PyTorch {med['torch'] * 1e3:.1f} ms, ratio {med['gpunet'] / med['torch']:.2f}"
    print(line + f" (medians of {runs} runs)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal((16, 128, 256)).astype(np.float32),
            "seed": rng.standard_normal((16, 128, 256)).astype(np.float32),
            "qkv": [rng.standard_normal((16, 4, 128, 64)).astype(np.float32) for _ in range(3)]}
    libs = [gpunet] + ([torch] if torch is not None else [])
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    compare("TransformerEncoderLayer(256, 4) fwd+bwd, (16, 128, 256)", _layer_case, libs, data, args.runs)
    compare("scaled_dot_product_attention causal fwd+bwd, (16, 4, 128, 64)", _sdpa_case, libs, data,
            args.runs)


if __name__ == "__main__":
    main()
