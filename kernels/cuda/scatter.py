"""Scatter-adds on the device: cupyx.scatter_add (atomic adds); the gather they invert, CuPy's."""
from kernels._scatter_checks import check_along
from kernels.cuda._launch import SIMULATOR, xp

__all__ = ["add_rows", "add_along_axis", "take_along_axis"]


def _cupyx():
    if SIMULATOR:
        from kernels.cuda.strict_sim import cupyx
    else:
        import cupyx
    return cupyx


def add_rows(target, index, values):
    """target[index[i]] += values[i] along target's first axis, in place, for a 1-D integer index (negative
    rows count from the end) and values of shape (index.size,) + target.shape[1:]; repeated rows add up."""
    _cupyx().scatter_add(target, index, values)


def add_along_axis(target, axis, index, values):
    """At every position p of index, target[p with p[axis] replaced by index[p]] += values[p], in place
    (negative indices count from the end; repeated positions add up): what torch.gather's backward and
    scatter_add do. index and values share a shape no larger than target's off the axis."""
    axis = check_along(target, axis, index, values)
    grids = list(xp.ogrid[tuple(slice(0, s) for s in index.shape)])
    grids[axis] = index
    _cupyx().scatter_add(target, tuple(grids), values)


def take_along_axis(source, axis, index):
    """np.take_along_axis(source, index, axis) for an integer index of source's shape off the axis (negative
    indices count from the end)."""
    return xp.take_along_axis(source, index, axis)
