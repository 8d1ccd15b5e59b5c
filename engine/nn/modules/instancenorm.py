"""``InstanceNorm1d`` / ``InstanceNorm2d``: each sample's channels normalised over their own
positions (style transfer, small batches), with PyTorch's defaults (no affine, no running
statistics) and state_dict keys."""

from __future__ import annotations

from typing import Any

from ... import creation
from ...tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module
from .normalization import register_running_stats

__all__ = ["InstanceNorm1d", "InstanceNorm2d"]


class _InstanceNorm(Module):
    ranks: tuple[int, int] = (2, 3)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(creation.ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(creation.zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        register_running_stats(self, num_features, track_running_stats, dtype, device)

    def forward(self, input: Tensor) -> Tensor:
        unbatched, batched = self.ranks
        if input.ndim not in (unbatched, batched):
            raise ValueError(f"{type(self).__name__}: expected {unbatched}D or {batched}D input "
                             f"(got {input.ndim}D input)")
        x = input.unsqueeze(0) if input.ndim == unbatched else input
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(f"{type(self).__name__}: expected input's size at dim=1 to match "
                             f"num_features ({self.num_features}), but got: {x.shape[1]}")
        use_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        out = F.instance_norm(x, self.running_mean if self.track_running_stats else None,
                              self.running_var if self.track_running_stats else None,
                              self.weight, self.bias, use_stats, self.momentum, self.eps)
        return out.squeeze(0) if input.ndim == unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Input ``(N, C, L)`` or ``(C, L)``."""

    ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Input ``(N, C, H, W)`` or ``(C, H, W)``."""

    ranks = (3, 4)
