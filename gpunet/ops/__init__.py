"""Every differentiable op, each defined once (forward with its backward), plus creation functions.

Modules: elementwise (arithmetic, unary math, comparisons), reduce (sum, mean, max, ...),
shape (views, indexing, cat/stack, gather/scatter), linalg (matmul family), convert (to/cast),
creation (tensor, zeros, rand, ...), inplace (the `op_` forms), methods (binds all onto Tensor).
"""
