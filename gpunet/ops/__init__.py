"""Every differentiable op, each defined once (forward with its backward), plus creation functions.

Modules: elementwise (binary arithmetic, comparisons), unary (exp/log/trig/activations' primitives),
reduce (sum, mean, max, ...), shape (views, permutations, cat/stack/split), indexing (getitem/setitem,
gather/scatter, where), linalg (matmul family), sorting (sort/topk), convert (to/cast), creation
(tensor, zeros, rand, ...), inplace (the `op_` forms), fill (zero_, fill_, copy_, random fills),
methods (binds all onto Tensor).
"""
from gpunet.ops.methods import bind as _bind

_bind()  # Tensor's operators and methods
