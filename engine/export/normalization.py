"""The input normalisation a model was trained with, ``(x - mean) / std`` per channel.

One rule, used by the training loop and by every exporter, so an exported model sees exactly what
the engine saw: one value applies to every element; otherwise there is one value per channel,
the first dimension after the batch (image channels, or the features of a vector sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..graph.registry import TensorType
from .errors import ExportError


class Normalization(NamedTuple):
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_settings(cls, settings: Any) -> Normalization | None:
        """From a project's ``dataset.normalize`` (``{"mean": [...], "std": [...]}`` or None)."""
        if not settings:
            return None
        norm = cls(tuple(float(v) for v in settings["mean"]),
                   tuple(float(v) for v in settings["std"]))
        bad = [f"{what} {v}" for what, values in (("mean", norm.mean), ("std", norm.std))
               for v in values if not math.isfinite(v)]
        if bad or any(v <= 0 for v in norm.std):
            raise ExportError(f"the normalisation {norm.describe()} cannot be used: "
                              f"{', '.join(bad) or 'a std <= 0'}; every mean and std must be a "
                              "finite number, and every std above 0 (fix dataset.normalize)")
        return norm

    def broadcast_shape(self, tt: TensorType, batched: bool = True) -> tuple[int, ...]:
        """The shape to give mean and std so they broadcast over a batch of ``tt``."""
        n = len(self.mean)
        if n == 1:
            return ()
        if not tt.shape or tt.shape[0] != n:
            raise ExportError(f"the normalisation has {n} per-channel values but the input "
                              f"{tt} has {tt.shape[0] if tt.shape else 0} channel(s) in dim 1")
        shape = (n,) + (1,) * (len(tt.shape) - 1)
        return (1, *shape) if batched else shape

    def arrays(self, tt: TensorType, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        shape = self.broadcast_shape(tt)
        return (np.asarray(self.mean, dtype).reshape(shape),
                np.asarray(self.std, dtype).reshape(shape))

    def apply(self, x: np.ndarray, tt: TensorType) -> np.ndarray:
        """Normalise a NumPy batch (tests and the NumPy path of the data pipeline)."""
        mean, std = self.arrays(tt, x.dtype)
        return (x - mean) / std

    def describe(self) -> str:
        def fmt(values: Sequence[float]) -> str:
            return "(" + ", ".join(f"{v:g}" for v in values) + ("," if len(values) == 1 else "") \
                + ")"
        return f"mean={fmt(self.mean)}, std={fmt(self.std)}"
