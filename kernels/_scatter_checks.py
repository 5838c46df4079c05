"""Argument checks of the scatter-add kernels, shared by kernels.cpu and kernels.cuda."""


def check_along(target, axis, index, values):
    """axis in range; index integer, of values' shape, no larger than target's off the axis; returns the
    axis counted from 0."""
    if not -target.ndim <= axis < target.ndim:
        raise ValueError(f"add_along_axis: axis {axis} is out of range for target of shape {target.shape}")
    axis %= target.ndim
    if (index.dtype.kind not in "iu" or index.shape != values.shape or index.ndim != target.ndim
            or any(k != axis and i > t for k, (i, t) in enumerate(zip(index.shape, target.shape)))):
        raise ValueError(f"add_along_axis: index must be an integer array of values' shape with target's "
                         f"dimensions, no larger off axis {axis}; got target {target.shape}, index "
                         f"{index.shape} {index.dtype}, values {values.shape}")
    return axis
