"""All layer classes of ``engine.nn``; each file mirrors the ``torch.nn.modules`` file of the
same name."""

from . import conv as _conv
from . import normalization as _norm
from . import pooling as _pool
from . import rnn as _rnn
from . import sparse as _sparse
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .conv import *  # noqa: F401,F403 - vision/sequence layers (issue 3)
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, RemovableHandle
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "ELU", "Flatten", "GELU",
    "Identity", "L1Loss", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module", "ModuleDict",
    "ModuleList", "NLLLoss", "ReLU", "RemovableHandle", "Sequential", "SiLU", "Sigmoid",
    "Softmax", "Tanh", "Unflatten",
]
for _m in (_conv, _pool, _norm, _rnn, _sparse):
    __all__ += list(getattr(_m, "__all__", []))
del _m
