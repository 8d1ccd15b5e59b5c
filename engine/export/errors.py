"""Errors of the exporters and of weight import."""

from __future__ import annotations

from ..graph.errors import ExportError


class WeightsError(ExportError):
    """A weights file that cannot be read, or whose tensors do not fit the graph; the message
    lists every missing, unexpected and mis-shaped name."""


__all__ = ["ExportError", "WeightsError"]
