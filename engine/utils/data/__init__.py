"""``engine.utils.data``: the path PyTorch scripts import from (``torch.utils.data``); the same
objects as ``engine.data``."""

from ...data import *  # noqa: F403
from ...data import __all__  # noqa: F401
from . import distributed
