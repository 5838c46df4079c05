"""add, sub, mul, div and neg on the device: CuPy's operators (one elementwise kernel each, all threads)."""

__all__ = ["add", "div", "mul", "neg", "sub"]


def add(a, b):
    """a + b with CuPy's (NumPy's) rules."""
    return a + b


def sub(a, b):
    """a - b with CuPy's (NumPy's) rules."""
    return a - b


def mul(a, b):
    """a * b with CuPy's (NumPy's) rules."""
    return a * b


def div(a, b):
    """a / b with CuPy's (NumPy's) rules (true division)."""
    return a / b


def neg(a):
    """-a with CuPy's (NumPy's) rules."""
    return -a
