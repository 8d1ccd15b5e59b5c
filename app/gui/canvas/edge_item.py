"""Wires: an edge between two ports, labelled with the tensor it carries, and the rubber-band
wire that follows the mouse while a connection is dragged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from engine.graph import Edge

from ..theme import colors, fonts

if TYPE_CHECKING:
    from .node_item import NodeItem


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal S-curve from an output at ``a`` to an input at ``b``."""
    dx = max(40.0, abs(b.x() - a.x()) * 0.5)
    path = QPainterPath(a)
    path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path


class EdgeItem(QGraphicsItem):
    """One edge. ``label`` is the tensor's shape; ``bad`` paints it red (the input it enters
    refuses that tensor)."""

    def __init__(self, edge: Edge, src: NodeItem, dst: NodeItem) -> None:
        super().__init__()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.label = ""
        self.bad = False
        self._path = QPainterPath()
        self._label_rect = QRectF()
        self._rect = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        # pans blit a cached image instead of re-stroking the curve and its label
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        src.edges.add(self)
        dst.edges.add(self)
        self.update_path()

    def detach(self) -> None:
        self.src.edges.discard(self)
        self.dst.edges.discard(self)

    def endpoints(self) -> tuple[QPointF, QPointF]:
        a_port = self.src.out_ports[self.edge.src_port] if self.edge.src_port < len(
            self.src.out_ports) else None
        b_port = self.dst.in_ports[self.edge.dst_port] if self.edge.dst_port < len(
            self.dst.in_ports) else None
        a = a_port.scenePos() if a_port else self.src.mapToScene(QPointF(184, 12))
        b = b_port.scenePos() if b_port else self.dst.mapToScene(QPointF(0, 12))
        return a, b

    def set_label(self, label: str, bad: bool) -> None:
        if (label, bad) != (self.label, self.bad):
            self.label, self.bad = label, bad
            self.update_path()

    def update_path(self) -> None:
        a, b = self.endpoints()
        path = wire_path(a, b)
        if self.label:
            fm = QFontMetricsF(fonts()["mono"])
            w, h = fm.horizontalAdvance(self.label) + 10, fm.height() + 4
            mid = path.pointAtPercent(0.5)
            label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
        else:
            label_rect = QRectF()
        rect = path.boundingRect().adjusted(-6, -6, 6, 6).united(label_rect)
        if path != self._path or rect != self._rect or label_rect != self._label_rect:
            self.prepareGeometryChange()
            self._path, self._label_rect, self._rect = path, label_rect, rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        hit = stroker.createStroke(self._path)
        if not self._label_rect.isNull():
            hit.addRect(self._label_rect)
        return hit

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        c = colors()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        color = c.error if self.bad else (c.wire if self.label else c.wire_unknown)
        if self.isSelected():
            color = c.selected
        if lod >= 0.35:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color, 2.6 if self.isSelected() else 1.8))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        if lod < 0.5 or not self.label:
            return
        painter.setPen(QPen(color, 1.0))
        painter.setBrush(QBrush(c.label_bg))
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setFont(fonts()["mono"])
        painter.setPen(c.error if self.bad else c.text)
        painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)


class WireItem(QGraphicsPathItem):
    """The rubber-band wire from the port a drag started on to the mouse."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(5)
        self.set_state(None)

    def set_state(self, state: str | None) -> None:
        c = colors()
        color = {"accept": c.accept, "refuse": c.refuse}.get(state or "", QColor(c.wire))
        pen = QPen(color, 2.2, Qt.PenStyle.DashLine if state != "accept" else Qt.PenStyle.SolidLine)
        self.setPen(pen)

    def set_ends(self, a: QPointF, b: QPointF) -> None:
        self.setPath(wire_path(a, b))
