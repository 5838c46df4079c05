"""Phase 1 of kernels.compile_check: launch every CUDA kernel through its public launcher and record how.

``record_launches()`` runs ``exercise()`` (every public launcher of kernels.cuda and the bench's roof pass,
on tiny inputs, with their options' variants) while kernels.cuda._launch hands each launch to a recorder.
A launch is recorded as (kernel name, argument types, block size); the argument types are ``numba.typeof``
of the arguments exactly as passed to the kernel (after ``_device_args``), which is what the dispatcher
compiles for on a GPU: a simulator NumPy array and a CuPy array both give ``array(float32, 1d, C)``,
Python ints int64, bools boolean, ``np.float32`` scalars float32.

``python -m kernels.compile_check.record PATH`` (with ``GPUNET_CUDA_SIM=1``) pickles the result to PATH.
"""
import contextlib
import pickle
import sys

import numpy as np

UNREGISTERED = "<not declared with kernels.cuda._launch.kernel>"


@contextlib.contextmanager
def recording():
    """Yield a dict {(kernel name, argtypes): set of block sizes} filled by every launch in the block."""
    from numba import typeof

    from kernels.cuda import _launch

    launches = {}

    def record(kernel, args, threads):
        name = next((n for n, (k, _) in _launch.KERNELS.items() if k is kernel), None)
        if name is None:
            fn = getattr(kernel, "py_func", getattr(kernel, "fn", kernel))
            name = f"{UNREGISTERED} {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        launches.setdefault((name, tuple(typeof(a) for a in args)), set()).add(int(threads))

    previous, _launch.recorder = _launch.recorder, record
    try:
        yield launches
    finally:
        _launch.recorder = previous


def _variants(**options):
    """Keyword dicts: every option at its first value, then each option at each other value in turn (the
    options are runtime scalars of one kernel: each takes its own path through the launcher)."""
    base = {name: values[0] for name, values in options.items()}
    return [base] + [{**base, name: value} for name, values in options.items() for value in values[1:]]


def _exercise_conv(K, xp, rng, dtype):
    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(dtype))

    x, w, b = arr(1, 2, 3, 4), arr(2, 1, 2, 2), arr(2)
    geometry = ((2, 1), (1, 1), (1, 2), 2)  # stride, padding, dilation, groups
    y, cols = K.conv2d_forward(x, w, b, *geometry, keep_columns=True)
    K.conv2d_backward(xp.ones_like(y), x, w, *geometry, (True, True, True), columns=cols)
    K.conv2d_backward(xp.ones_like(y), x, w, *geometry, (True, True, False))
    wt = arr(2, 1, 2, 2)
    y = K.conv_transpose2d_forward(x, wt, None, (2, 2), (1, 0), (1, 1), (1, 1), 2)
    K.conv_transpose2d_backward(xp.ones_like(y), x, wt, (2, 2), (1, 0), (1, 1), (1, 1), 2, (True, True, True))


def _exercise_pool(K, xp, rng, dtype):
    x = xp.asarray(rng.standard_normal((1, 2, 5, 4)).astype(dtype))
    y, ind = K.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1), (1, 2), True)
    K.max_pool2d_backward(xp.ones_like(y), ind, x.shape)
    for o in _variants(ceil_mode=(False, True), count_include_pad=(False, True), divisor_override=(None, 5)):
        args = ((3, 2), (2, 2), (1, 1), o["ceil_mode"], o["count_include_pad"], o["divisor_override"])
        y = K.avg_pool2d_forward(x, *args)
        K.avg_pool2d_backward(xp.ones_like(y), x.shape, *args)
    y = K.adaptive_avg_pool2d_forward(x, (3, 4))
    K.adaptive_avg_pool2d_backward(xp.ones_like(y), x.shape)


def _exercise_attention(K, xp, rng, dtype):
    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(dtype))

    q, k, v = arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 3)
    for mask, causal in ((None, False), (arr(1, 3, 5), False), (None, True)):
        out, lse = K.attention_forward(q, k, v, mask, 1, 0.5, causal)
        K.attention_backward(xp.ones_like(out), q, k, v, out, lse, mask, 1, 0.5, causal,
                             (True, True, True, mask is not None))


def _exercise_softmax(K, xp, rng, dtype):
    x = xp.asarray(rng.standard_normal((3, 5)).astype(dtype))
    for name in ("softmax", "log_softmax"):
        y = getattr(K, name + "_forward")(x)
        getattr(K, name + "_backward")(xp.ones_like(y), y)
    target = xp.asarray(np.array([0, -100, 4]))
    weight = xp.asarray(rng.uniform(0.5, 2.0, 5).astype(dtype))
    for o in _variants(weight=(None, weight), label_smoothing=(0.0, 0.1)):
        args = (o["weight"], -100, o["label_smoothing"])
        loss, stats = K.cross_entropy_forward(x, target, *args)
        K.cross_entropy_backward(xp.ones_like(loss), x, target, stats, *args)


def _exercise_special(K, xp, rng, dtype):
    K.erf(xp.asarray(rng.standard_normal((3, 5)).astype(dtype)))


def _exercise_recurrent(K, xp, rng, dtype):
    B, H = 2, 3

    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(dtype))
    h_new, r, z, n, gh_n = K.gru_gates(arr(B, 3 * H), arr(B, 3 * H), arr(B, H), arr(3 * H))
    K.gru_gates_backward(arr(B, H), arr(B, H), r, z, n, gh_n)
    c = arr(B, H)
    _, _, i, f, g, o, tc = K.lstm_gates(arr(B, 4 * H), arr(B, 4 * H), c, arr(4 * H))
    K.lstm_gates_backward(arr(B, H), None, c, i, f, g, o, tc)


_STEP_VARIANTS = {  # each step's fixed arguments, and its options (runtime scalars of one kernel) to vary
    "sgd_step": ({"lr": 0.1, "dampening": 0.1, "weight_decay": 0.01},
                 _variants(momentum=(0.0, 0.9), nesterov=(False, True), maximize=(False, True),
                           first_step=(False, True))),
    "adam_step": ({"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "step": 3},
                  _variants(decoupled_weight_decay=(False, True), amsgrad=(False, True),
                            maximize=(False, True))),
    "rmsprop_step": ({"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.01},
                     _variants(momentum=(0.0, 0.9), centered=(False, True), maximize=(False, True))),
    "adagrad_step": ({"lr": 1e-2, "lr_decay": 0.01, "weight_decay": 0.01, "eps": 1e-10, "step": 3},
                     _variants(maximize=(False, True))),
    "adadelta_step": ({"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.01},
                      _variants(maximize=(False, True))),
    "adamax_step": ({"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "step": 3},
                    _variants(maximize=(False, True))),
    "nadam_step": ({"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "mu": 0.8,
                    "mu_next": 0.81, "mu_product": 0.5, "mu_product_next": 0.4, "step": 3},
                   _variants(decoupled_weight_decay=(False, True), maximize=(False, True))),
    "radam_step": ({"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
                   _variants(decoupled_weight_decay=(False, True), maximize=(False, True),
                             step=(1, 10))),  # step 10: rectified
}

_STEP_STATE = {  # each step's state arguments; None where an option leaves the slot unused
    "sgd_step": lambda o: {"momentum_buffer": o["momentum"] != 0},
    "adam_step": lambda o: {"exp_avg": True, "exp_avg_sq": True, "max_exp_avg_sq": o["amsgrad"]},
    "rmsprop_step": lambda o: {"square_avg": True, "grad_avg": o["centered"],
                               "momentum_buffer": o["momentum"] > 0},
    "adagrad_step": lambda o: {"state_sum": True},
    "adadelta_step": lambda o: {"square_avg": True, "acc_delta": True},
    "adamax_step": lambda o: {"exp_avg": True, "exp_inf": True},
    "nadam_step": lambda o: {"exp_avg": True, "exp_avg_sq": True},
    "radam_step": lambda o: {"exp_avg": True, "exp_avg_sq": True},
}


def _exercise_optim(K, xp, rng, dtype):
    if np.dtype(dtype) == np.float16:
        return  # the steps take float32 and float64 arrays only
    n = 5
    for name, (fixed, variants) in _STEP_VARIANTS.items():
        for o in variants:
            param = xp.asarray(rng.standard_normal(n).astype(dtype))
            grad = xp.asarray(rng.standard_normal(n).astype(dtype))
            state = {k: xp.ones(n, dtype) if used else None for k, used in _STEP_STATE[name](o).items()}
            getattr(K, name)(param, grad, **state, **fixed, **o)
    # a param group's grads as segments: gathered into one array before the same kernel
    param = xp.zeros(n, dtype)
    grads = [xp.ones(2, dtype), xp.ones(n - 2, dtype)]
    K.sgd_step(param, grads, None, 0.1, 0.0, 0.0, 0.0, False, False, False)


def _exercise_roof(xp):
    from kernels.bench import roof
    # as roof.measure makes them: float32 whatever the dtype under test
    roof.cuda_inplace_pass(*(xp.full(9, 0.5, dtype=xp.float32) for _ in range(4)))


def exercise(dtypes=("float16", "float32", "float64")):
    """Call every public launcher of kernels.cuda (and the roof pass) on tiny inputs of each dtype."""
    import kernels.cuda as K
    from kernels.cuda._launch import require, xp

    require()
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for area in (_exercise_conv, _exercise_pool, _exercise_softmax, _exercise_special, _exercise_optim,
                     _exercise_attention, _exercise_recurrent):
            area(K, xp, rng, np.dtype(dtype))
    _exercise_roof(xp)


def record_launches():
    """{"launches": [{"kernel", "argtypes", "threads"}], "declared": {kernel name: dtypes}}."""
    from kernels.cuda import _launch

    with recording() as launches:
        exercise()
    return {"launches": [{"kernel": name, "argtypes": argtypes, "threads": sorted(threads)}
                         for (name, argtypes), threads in launches.items()],
            "declared": {name: dtypes for name, (_, dtypes) in _launch.KERNELS.items()}}


def float_dtype(argtypes):
    """The float dtype of a signature's arrays ('float32', ...); 'mixed ...' or 'none' when not one."""
    found = sorted({str(t.dtype) for t in argtypes
                    if hasattr(t, "dtype") and hasattr(t, "ndim") and str(t.dtype).startswith("float")})
    if len(found) == 1:
        return found[0]
    return f"mixed {'/'.join(found)}" if found else "none"


def coverage_problems(recorded):
    """What record_launches() shows is not covered: launches of undeclared kernels or in undeclared dtypes,
    declared (kernel, dtype) pairs that no launcher instantiated."""
    problems = []
    seen = set()
    for launch in recorded["launches"]:
        name, dtype = launch["kernel"], float_dtype(launch["argtypes"])
        seen.add((name, dtype))
        if name.startswith(UNREGISTERED):
            problems.append(f"{name}: launched but not declared (the check cannot find it)")
        elif dtype not in recorded["declared"][name]:
            declared = ", ".join(recorded["declared"][name])
            problems.append(f"{name}: launched in {dtype}, declared for {declared}")
    for name, dtypes in recorded["declared"].items():
        for dtype in dtypes:
            if (name, dtype) not in seen:
                problems.append(f"{name}: declared for {dtype} but never launched in it by "
                                "kernels.compile_check.record.exercise()")
    return problems


def main(argv):
    from kernels.cuda._launch import SIMULATOR

    if not SIMULATOR:
        sys.exit("kernels.compile_check.record runs in the simulator: set GPUNET_CUDA_SIM=1")
    with open(argv[0], "wb") as f:
        pickle.dump(record_launches(), f)


if __name__ == "__main__":
    main(sys.argv[1:])
