"""Special functions NumPy lacks (erf, for GELU and the normal CDF), compiled with Numba."""
import math

import numpy as np
from numba import vectorize

__all__ = ["erf"]


@vectorize(["float32(float32)", "float64(float64)"], cache=True)
def _erf(x):
    return math.erf(x)


def erf(x):
    """Elementwise error function of a float array (float16 computed in float32)."""
    if x.dtype == np.float16:
        return _erf(x.astype(np.float32)).astype(np.float16)
    return _erf(x)
