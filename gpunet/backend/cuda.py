"""CUDA backend: CuPy arrays and kernels.cuda, or NumPy arrays in simulator mode (GPUNET_CUDA_SIM=1).

Imported lazily, the first time a CUDA device is used, so `import gpunet` never fails for lack of CUDA.
"""

import kernels
from gpunet.backend.cpu import substitute
from kernels.cuda import _launch

SIMULATOR = kernels.simulator_enabled()
xp = _launch.xp


def _load_kernels():
    import kernels.cuda as K
    return K


K = _load_kernels()


def is_available():
    return _launch.available()


def device_count():
    if not is_available():
        return 0
    if SIMULATOR:
        return 1
    return xp.cuda.runtime.getDeviceCount()


def require():
    if not is_available():
        raise RuntimeError(f"CUDA is not available: {_launch.unavailable_reason()}")


def to_host(array):
    """The one way from the device to the host in gpunet (in the simulator, counted in strict_sim.syncs).

    The host has waited for the device, so the pending device asserts are checked too."""
    host = xp.asnumpy(array)
    _raise_failed_asserts()
    return host


def from_host(array):
    return xp.asarray(array)


def make_rng(seed):
    return xp.random.Generator(xp.random.XORWOW(seed))


def synchronize():
    if not SIMULATOR and is_available():
        xp.cuda.get_current_stream().synchronize()
    _raise_failed_asserts()


# Device asserts: a check of device values (an index in range, a probability in [0, 1]) would stall the
# GPU if the host read the answer at once. Like PyTorch's device-side asserts, the answer stays on the
# device and the error is raised at the next synchronisation (to_host: .item(), .cpu(), printing;
# gpunet.cuda.synchronize()), before any value reaches the user; unlike them, it names the op and the
# first bad value. Checks under one key fold into one flag and one first bad value, so a loop that never
# synchronises holds a fixed amount of memory.
_pending = {}  # key -> [failed: device bool, first bad value: device scalar, error(value) -> Exception]


def device_assert(key, bad, values, error):
    """Raise error(v), v the first of `values` where the bool array `bad` is true, at the next sync.

    `key` names the check and everything the message depends on (op, sizes), as calls with one key share
    a flag."""
    if not bad.size:
        return
    bad, values = bad.reshape(-1), values.reshape(-1)
    failed, first = bad.any(), values[bad.argmax()]
    entry = _pending.get(key)
    if entry is None:
        _pending[key] = [failed, first, error]
    else:
        entry[1] = xp.where(entry[0], entry[1], first)
        entry[0] = entry[0] | failed


def _raise_failed_asserts():
    if not _pending:
        return
    entries = list(_pending.values())
    _pending.clear()
    failed = xp.asnumpy(xp.stack([e[0] for e in entries]))
    for (_, first, error), f in zip(entries, failed):
        if f:
            raise error(xp.asnumpy(first).item())


def scatter_add(target, index, values):
    """target[index] += values, accumulating repeated indices."""
    if SIMULATOR:
        from kernels.cuda.strict_sim import cupyx
    else:
        import cupyx
    cupyx.scatter_add(target, index, values)


def cholesky(a):
    """Lower Cholesky factor; raises numpy.linalg.LinAlgError when a matrix is not positive-definite.

    CuPy skips that check unless asked (it reads cuSOLVER's status on the host), so the check costs one
    synchronisation, as torch.linalg.cholesky's does."""
    if SIMULATOR:
        return xp.linalg.cholesky(a)
    import cupyx
    with cupyx.errstate(linalg="raise"):
        return xp.linalg.cholesky(a)


def inv(a):
    """Inverse; raises numpy.linalg.LinAlgError when a matrix is singular, at the cost of one
    synchronisation (CuPy reads cuSOLVER's status on the host when asked), as torch.linalg.inv's check."""
    if SIMULATOR:
        return xp.linalg.inv(a)
    import cupyx
    with cupyx.errstate(linalg="raise"):
        return xp.linalg.inv(a)


def solve(a, b):
    """x with a @ x = b (b (..., n, k)); raises numpy.linalg.LinAlgError when a matrix is singular (one
    synchronisation, as torch.linalg.solve's check)."""
    if SIMULATOR:
        return xp.linalg.solve(a, b)
    import cupyx
    with cupyx.errstate(linalg="raise"):
        return xp.linalg.solve(a, b)


def solve_triangular(a, b, lower):
    """x with a @ x = b, a (..., n, n) triangular with its other triangle already zero, b (..., n, k)."""
    if SIMULATOR:  # the simulator has no cupyx.scipy
        return substitute(xp, a, b, lower)
    import cupyx.scipy.linalg
    return cupyx.scipy.linalg.solve_triangular(a, b, lower=lower)
