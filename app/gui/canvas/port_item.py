"""A node's input or output port: a small typed circle a wire starts or ends on.

A plain ``QGraphicsEllipseItem`` on purpose: it paints in C++, so the hundreds of ports of a
large graph cost nothing per frame while the canvas pans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem

from ..constants import PORT_RADIUS
from ..theme import colors

if TYPE_CHECKING:
    from .node_item import NodeItem

# dtype families a port carries; the colour tells a float port from an index port at a glance
KIND_FLOAT, KIND_INT, KIND_ANY = "float", "int", "any"


class PortItem(QGraphicsEllipseItem):
    """Port ``index`` of a node; ``is_output`` tells the side."""

    def __init__(self, node: NodeItem, index: int, is_output: bool) -> None:
        r = PORT_RADIUS
        super().__init__(QRectF(-r, -r, 2 * r, 2 * r), node)
        self.node = node
        self.index = index
        self.is_output = is_output
        self.kind = KIND_FLOAT
        self.connected = False
        self.highlight: str | None = None  # "accept" / "refuse" while a wire hovers
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        self.restyle()

    def set_state(self, kind: str, connected: bool, tooltip: str) -> None:
        if (kind, connected) != (self.kind, self.connected):
            self.kind, self.connected = kind, connected
            self.restyle()
        if tooltip != self.toolTip():
            self.setToolTip(tooltip)

    def set_highlight(self, highlight: str | None) -> None:
        if highlight != self.highlight:
            self.highlight = highlight
            self.restyle()

    def restyle(self) -> None:
        c = colors()
        color = {KIND_FLOAT: c.port_float, KIND_INT: c.port_int}.get(self.kind, c.port_any)
        r = PORT_RADIUS
        if self.highlight is not None:
            ring = c.accept if self.highlight == "accept" else c.refuse
            self.setRect(QRectF(-r - 2, -r - 2, 2 * r + 4, 2 * r + 4))
            self.setPen(QPen(ring, 3.0))
            self.setBrush(QBrush(ring))
            return
        self.setRect(QRectF(-r, -r, 2 * r, 2 * r))
        self.setPen(QPen(color, 2.0))
        self.setBrush(QBrush(color if self.connected else c.node_body))
