"""MatMul's differentiable backward (the create_graph walk), attached to linalg.MatMul.

It is kept out of ops/linalg.py only while that file is being changed on another branch; it belongs
in MatMul next to its backward and should move there when the branches meet.
"""
from gpunet.autograd.higher_order import saved
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.ops.linalg import MatMul


def _matmul_backward_graph(ctx, g):
    """matmul's gradients as matmuls of Tensors: 1-D operands act as a row / a column, as in backward."""
    a, b = saved(ctx)
    na, nb = ctx.needs_input_grad
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(1) if b.ndim == 1 else b
    g2 = g
    if b.ndim == 1:  # first, so that a 0-d g (vector @ vector) gains an axis before the next line
        g2 = g2.unsqueeze(-1)
    if a.ndim == 1:
        g2 = g2.unsqueeze(-2)
    ga = unbroadcast_t(g2 @ b2.transpose(-1, -2), a2.shape).reshape(a.shape) if na else None
    gb = unbroadcast_t(a2.transpose(-1, -2) @ g2, b2.shape).reshape(b.shape) if nb else None
    return ga, gb


MatMul.backward_graph = staticmethod(_matmul_backward_graph)
