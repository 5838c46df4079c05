"""Layer modules, one concept per file."""
from gpunet.nn.modules.activation import *  # noqa: F401,F403
from gpunet.nn.modules.attention import *  # noqa: F401,F403
from gpunet.nn.modules.conv import *  # noqa: F401,F403
from gpunet.nn.modules.dropout import *  # noqa: F401,F403
from gpunet.nn.modules.flatten import *  # noqa: F401,F403
from gpunet.nn.modules.linear import *  # noqa: F401,F403
from gpunet.nn.modules.loss import *  # noqa: F401,F403
from gpunet.nn.modules.normalization import *  # noqa: F401,F403
from gpunet.nn.modules.pooling import *  # noqa: F401,F403
from gpunet.nn.modules.rnn import *  # noqa: F401,F403
from gpunet.nn.modules.sparse import *  # noqa: F401,F403
from gpunet.nn.modules.upsampling import *  # noqa: F401,F403
from gpunet.nn.modules.transformer import *  # noqa: F401,F403
