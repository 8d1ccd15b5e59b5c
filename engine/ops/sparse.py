"""Embedding lookup: a row gather whose gradient sums the rows of repeated indices."""

from __future__ import annotations

from typing import Any

from .._backend import xp_of
from ..autograd.function import Function
from .util import scatter_add


class Embedding(Function):
    """``weight[indices]``; the weight gradient accumulates over repeated indices, skips
    ``padding_idx`` and optionally divides by each index's frequency in the batch."""

    def forward(self, weight: Any, indices: Any, padding_idx: int | None,
                scale_grad_by_freq: bool) -> Any:
        self.indices, self.padding_idx = indices, padding_idx
        self.scale, self.wshape = scale_grad_by_freq, weight.shape
        return weight[indices]

    def backward(self, g: Any) -> tuple[Any, None, None, None]:
        xp = xp_of(g)
        idx = self.indices.reshape(-1)
        g2 = g.reshape(idx.shape[0], -1)
        if self.scale:
            counts = xp.bincount(idx, minlength=self.wshape[0])
            g2 = g2 / counts[idx].reshape(-1, 1).astype(g.dtype)
        if self.padding_idx is not None:
            g2 = g2 * (idx != self.padding_idx).reshape(-1, 1)
        gw = xp.zeros((self.wshape[0], g2.shape[1]), dtype=g.dtype)
        scatter_add(xp, gw, idx, g2)
        return gw.reshape(self.wshape), None, None, None
