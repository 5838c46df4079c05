"""gpunet.nn.functional: the functional forms of layers and losses (torch.nn.functional).

PyTorch's signatures, argument checks and error messages; the differentiable ops they call are in
gpunet.ops (no Op is defined here).
"""
from gpunet._missing import missing_attribute as _missing_attribute
from gpunet.nn.functional.activation import *  # noqa: F401,F403
from gpunet.nn.functional.attention import *  # noqa: F401,F403
from gpunet.nn.functional.conv import *  # noqa: F401,F403
from gpunet.nn.functional.dropout import *  # noqa: F401,F403
from gpunet.nn.functional.linear import *  # noqa: F401,F403
from gpunet.nn.functional.loss import *  # noqa: F401,F403
from gpunet.nn.functional.normalization import *  # noqa: F401,F403
from gpunet.nn.functional.pooling import *  # noqa: F401,F403
from gpunet.nn.functional.rnn import *  # noqa: F401,F403
from gpunet.nn.functional.sparse import *  # noqa: F401,F403
from gpunet.nn.functional.upsampling import *  # noqa: F401,F403

__getattr__ = _missing_attribute(__name__)  # names gpunet lacks: say what PyTorch has
