"""``engine.nn``: layers (``Module`` and its subclasses), ``Parameter``, ``functional``, ``init``
and ``utils``, with PyTorch's names, arguments and state-dict layout."""

from . import functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .modules.conv import *  # noqa: F401,F403
from .modules.normalization import *  # noqa: F401,F403
from .modules.pooling import *  # noqa: F401,F403
from .modules.rnn import *  # noqa: F401,F403
from .modules.sparse import *  # noqa: F401,F403
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils", *_modules_all]
