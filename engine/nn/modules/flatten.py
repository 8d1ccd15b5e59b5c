"""``Flatten`` and ``Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...errors import ShapeError
from ...tensor import Tensor
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one (by default all but the batch dim).

    Shape: ``(N, *dims)`` -> ``(N, prod(dims))``.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if self.start_dim == 1 and self.end_dim == -1 and len(shape) >= 2:  # the usual case
            if len(shape) == 2:
                return input
            return input.reshape(shape[0], math.prod(shape[1:]))
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1).

    Shape: ``(N, C*H*W)`` with ``Unflatten(1, (C, H, W))`` -> ``(N, C, H, W)``.
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, tuple | list) or not all(
                isinstance(s, int) for s in unflattened_size):
            raise TypeError(
                f"Unflatten: unflattened_size must be a tuple or list of ints, got "
                f"{unflattened_size!r}"
            )
        if sum(1 for s in unflattened_size if s == -1) > 1:
            raise ValueError("Unflatten: only one size can be -1")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        d = self.dim % input.ndim if input.ndim else 0
        n = input.shape[d]
        sizes = list(self.unflattened_size)
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if known == 0 or n % known:
                raise ShapeError(
                    f"Unflatten: dimension {self.dim} of size {n} can't be split into "
                    f"{tuple(self.unflattened_size)}"
                )
            sizes[sizes.index(-1)] = n // known
        elif known != n:
            raise ShapeError(
                f"Unflatten: unflattened_size {tuple(self.unflattened_size)} has "
                f"{known} elements but dimension {self.dim} of the input (shape "
                f"{tuple(input.shape)}) has size {n}; their product must equal it"
            )
        return input.reshape(input.shape[:d] + tuple(sizes) + input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
