"""Small modules the nn.Module tests build on: a test-local Linear, ReLU, a norm with every kind of buffer,
a net of them (independent of gpunet.nn's layers)."""
import gpunet
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter


class Linear(Module):
    """A test-local Linear built from Parameters (independent of gpunet.nn.Linear)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(gpunet.randn(out_features, in_features) * 0.5)
        if bias:
            self.bias = Parameter(gpunet.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        y = x @ self.weight.t()
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Norm(Module):
    """Has a float buffer, an int buffer and a non-persistent buffer."""

    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(gpunet.ones(n))
        self.register_buffer("running_mean", gpunet.zeros(n))
        self.register_buffer("num_batches_tracked", gpunet.tensor(0))
        self.register_buffer("scratch", gpunet.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.weight - self.running_mean


class Net(Module):
    def __init__(self):
        super().__init__()
        self.fc = Linear(2, 3)
        self.norm = Norm(3)
        self.head = Linear(3, 1)

    def forward(self, x):
        return self.head(self.norm(self.fc(x)).relu())
