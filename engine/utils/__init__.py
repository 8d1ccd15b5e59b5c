"""``engine.utils``: PyTorch's ``torch.utils`` paths (``engine.utils.data`` is ``engine.data``)."""

from . import data
