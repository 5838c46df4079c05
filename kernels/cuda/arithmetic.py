"""add, add_ (in place), sub, mul, div, maximum, minimum, mul_sign, neg, square, cube, abs, sqrt and
rsqrt on the device: CuPy's operators and ufuncs (one elementwise kernel each, all threads)."""
from kernels.cuda._launch import xp

__all__ = ["abs", "add", "add_", "cube", "div", "maximum", "minimum", "mul", "mul_sign", "neg", "rsqrt",
           "sqrt", "square", "sub"]


def add(a, b):
    """a + b with CuPy's (NumPy's) rules."""
    return a + b


def add_(a, b):
    """a += b in place with CuPy's (NumPy's) rules; returns a."""
    a += b
    return a


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


def maximum(a, b):
    """xp.maximum(a, b): NaN where either is NaN."""
    return xp.maximum(a, b)


def minimum(a, b):
    """xp.minimum(a, b): NaN where either is NaN."""
    return xp.minimum(a, b)


def mul_sign(a, b):
    """a * sign(b), the sign 0 at 0 and at NaN (PyTorch's sgn: abs's gradient is 0 there)."""
    return a * ((b > 0).astype(a.dtype) - (b < 0))


def square(a):
    """a * a."""
    return a * a


def cube(a):
    """a * a * a."""
    return a * a * a


def abs(a):  # noqa: A001 (the op's name, as cupy.abs and torch.abs)
    """xp.abs(a)."""
    return xp.abs(a)


def sqrt(a):
    """xp.sqrt(a)."""
    return xp.sqrt(a)


def rsqrt(a):
    """1 / xp.sqrt(a)."""
    return 1 / xp.sqrt(a)
