"""The node editor's canvas: a ``QGraphicsScene`` mirroring the graph item by item, and the view
that navigates it (zoom, pan, fit, minimap, drops from the palette)."""

from .scene import GraphScene
from .view import GraphView

__all__ = ["GraphScene", "GraphView"]
