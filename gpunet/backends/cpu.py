"""gpunet.backends.cpu."""


def get_cpu_capability():
    """"DEFAULT": gpunet has no per-instruction-set kernel tables to choose among (NumPy and Numba pick
    their own vector instructions), so it always runs the one default set."""
    return "DEFAULT"
