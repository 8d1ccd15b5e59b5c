"""``engine.testing``: ``assert_close`` with PyTorch's default tolerances per dtype."""

from ._comparison import assert_close

__all__ = ["assert_close"]
