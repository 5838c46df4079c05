"""Every differentiable op, each defined once (forward with its backward), plus creation functions.

Tensor math: elementwise (binary arithmetic, comparisons), unary (exp/log/trig/relu/sigmoid/tanh),
trigonometric (inverse and hyperbolic, atan2, hypot), composed_shape (meshgrid, diff, atleast_Nd),
reduce (sum, mean, max, ...), shape (views, permutations, cat/stack/split), indexing (getitem/setitem,
gather/scatter, where), linalg (matmul family), sorting (sort/topk), convert (to/cast), creation
(tensor, zeros, rand, ...), inplace (the `op_` forms), fill (zero_, fill_, copy_, random fills).
Layers' ops (nn.functional checks the arguments and calls these): activation, softmax, linear,
conv, pooling, padding, normalization, vector_norm, dropout, embedding, upsampling, rnn (GRU/LSTM
steps), loss, nll (cross entropy). _checks: argument checks with PyTorch's messages; _util: helpers.

Importing this package binds Tensor's operators and methods (methods.bind), so tensor.py imports
nothing above itself.
"""
from gpunet.ops.methods import bind as _bind

_bind()  # Tensor's operators and methods
from gpunet.ops import matmul_graph as _matmul_graph  # noqa: E402,F401  (MatMul.backward_graph)
