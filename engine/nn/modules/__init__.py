"""All layer classes of ``engine.nn``; each file mirrors the ``torch.nn.modules`` file of the
same name."""

from . import activation_more as _activation_more
from . import container_params as _container_params
from . import conv as _conv
from . import instancenorm as _instancenorm
from . import loss_more as _loss_more
from . import normalization as _norm
from . import padding as _padding
from . import pixelshuffle as _pixelshuffle
from . import pooling as _pool
from . import rnn as _rnn
from . import rnn_cell as _rnn_cell
from . import sparse as _sparse
from . import transformer as _transformer
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .activation_more import *  # noqa: F401,F403
from .container import ModuleDict, ModuleList, Sequential
from .container_params import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403 - vision/sequence layers (issue 3)
from .dropout import Dropout, Dropout1d
from .flatten import Flatten, Unflatten
from .instancenorm import *  # noqa: F401,F403
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .loss_more import *  # noqa: F401,F403
from .module import Module, RemovableHandle
from .normalization import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .rnn_cell import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Dropout1d", "ELU",
    "Flatten", "GELU",
    "Identity", "L1Loss", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module", "ModuleDict",
    "ModuleList", "NLLLoss", "ReLU", "RemovableHandle", "Sequential", "SiLU", "Sigmoid",
    "Softmax", "Tanh", "Unflatten",
]
for _m in (_conv, _pool, _norm, _rnn, _sparse, _activation_more, _container_params,
           _instancenorm, _loss_more, _padding, _pixelshuffle, _rnn_cell, _transformer):
    __all__ += list(getattr(_m, "__all__", []))
del _m
