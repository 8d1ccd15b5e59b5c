"""``Dropout``: active in training mode only."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d"]


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the others by
    ``1 / (1 - p)``; in eval mode, the identity.

    Example::

        drop = nn.Dropout(0.2)
        drop.eval()  # now a no-op
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p`` in
    training; identity in eval."""

    def forward(self, input: Tensor) -> Tensor:
        from .._functional_vision import dropout1d  # noqa: PLC0415

        return dropout1d(input, self.p, self.training, self.inplace)
