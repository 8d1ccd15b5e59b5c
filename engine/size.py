"""``engine.Size``: a tensor's shape, a tuple of ints printed as PyTorch prints ``torch.Size``."""

from __future__ import annotations

import math


class Size(tuple):
    """The shape of a tensor (``t.shape``, ``t.size()``): a tuple, so it compares equal to
    tuples and unpacks like one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"engine.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        out = tuple.__getitem__(self, index)
        return Size(out) if isinstance(index, slice) else out

    def __add__(self, other):  # type: ignore[no-untyped-def, override]
        return Size(tuple.__add__(self, tuple(other)))
