"""Row scatter-add on the device: cupyx.scatter_add (atomic adds)."""
from kernels.cuda._launch import SIMULATOR

__all__ = ["add_rows"]


def add_rows(target, index, values):
    """target[index[i]] += values[i] along target's first axis, in place, for a 1-D integer index (negative
    rows count from the end) and values of shape (index.size,) + target.shape[1:]; repeated rows add up."""
    if SIMULATOR:
        from kernels.cuda.strict_sim import cupyx
    else:
        import cupyx
    cupyx.scatter_add(target, index, values)
