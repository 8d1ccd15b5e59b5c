"""Wires: an edge between two ports, labelled with the tensor it carries, and the rubber-band
wire that follows the mouse while a connection is dragged.

While a run is watched (layer diagnostics), a wire is tinted by the norm of the gradient that
flows back along it (``gradient_tint``): its usual colour from 1e-4 to 1e1 (where the gradients
of the templates' healthy layers lie), turning blue towards 1e-7 (vanishing, the health rules'
threshold; a dead ReLU's zero gradient is fully blue) and red towards 1e3 (exploding), on a log
scale, and drawn wider the further it is tinted."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
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


LABEL_PT = 8.5  # on-screen size of a wire's shape label when zoomed out
# Gradient tint: the wire keeps its colour for norms in [1e-4, 1e1] and is fully blue at 1e-7
# and below, fully red at 1e3 and above (the health rules' thresholds), log-linear in between.
GRAD_NEUTRAL_LOG10 = (-4.0, 1.0)
GRAD_FULL_LOG10 = (-7.0, 3.0)
VANISHING_COLOR = QColor("#2f6fdb")
EXPLODING_COLOR = QColor("#d1242f")
LABEL_MIN_LOD = 0.4  # below this zoom the labels are left out (the cards show the shapes)
RETURN_RADIUS = 22.0


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal S-curve from an output at ``a`` to an input at ``b`` further right; a wire
    that goes back left (to the next row of a wrapped layout, or round a cycle) leaves to the
    right, runs back along the gap below, and enters ``b`` from its left."""
    if b.x() >= a.x() + 2 * RETURN_RADIUS:
        dx = max(40.0, abs(b.x() - a.x()) * 0.5)
        path = QPainterPath(a)
        path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
        return path
    r = RETURN_RADIUS
    y = return_lane(a, b)
    down = 1.0 if y > a.y() else -1.0
    into = 1.0 if b.y() > y else -1.0
    x1, x2 = a.x() + r, b.x() - r
    path = QPainterPath(a)
    path.lineTo(x1, a.y())
    path.quadTo(x1 + r, a.y(), x1 + r, a.y() + down * r)
    path.lineTo(x1 + r, y - down * r)
    path.quadTo(x1 + r, y, x1, y)
    path.lineTo(x2, y)
    path.quadTo(x2 - r, y, x2 - r, y + into * r)
    path.lineTo(x2 - r, b.y() - into * r)
    path.quadTo(x2 - r, b.y(), x2, b.y())
    path.lineTo(b)
    return path


def gradient_strength(norm: float) -> float:
    """-1 (vanishing) ... 0 (healthy) ... 1 (exploding) for a gradient norm."""
    if not math.isfinite(norm):
        return 1.0
    x = math.log10(max(norm, 1e-30))
    (lo, hi), (lo_full, hi_full) = GRAD_NEUTRAL_LOG10, GRAD_FULL_LOG10
    if x < lo:
        return -min(1.0, (lo - x) / (lo - lo_full))
    if x > hi:
        return min(1.0, (x - hi) / (hi_full - hi))
    return 0.0


def gradient_tint(base: QColor, norm: float) -> QColor:
    """``base`` blended towards blue (vanishing gradient norms) or red (exploding ones)."""
    t = gradient_strength(norm)
    target = VANISHING_COLOR if t < 0 else EXPLODING_COLOR
    a = abs(t)
    return QColor.fromRgbF(base.redF() + (target.redF() - base.redF()) * a,
                           base.greenF() + (target.greenF() - base.greenF()) * a,
                           base.blueF() + (target.blueF() - base.blueF()) * a)


def return_lane(a: QPointF, b: QPointF) -> float:
    """The height a returning wire runs back at: half-way between two rows, or below both
    ends when they share a row (a cycle)."""
    return (a.y() + b.y()) / 2 if abs(b.y() - a.y()) > 120 else max(a.y(), b.y()) + 70


class EdgeItem(QGraphicsItem):
    """One edge. ``label`` is the tensor's shape; ``bad`` paints it red (the input it enters
    refuses that tensor), ``back`` dashes it (it closes a cycle, which must be removed)."""

    def __init__(self, edge: Edge, src: NodeItem, dst: NodeItem) -> None:
        super().__init__()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.label = ""
        self.bad = False
        self.back = False
        self.drop_target = False  # a dragged layer would be inserted here
        self.gradient: float | None = None  # norm of the gradient flowing back (diagnostics)
        self._path = QPainterPath()
        self._label_at = QPointF()
        self._room = 0.0  # the width a label may take without covering a card
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

    def set_label(self, label: str, bad: bool, back: bool = False) -> None:
        if (label, bad, back) != (self.label, self.bad, self.back):
            self.label, self.bad, self.back = label, bad, back
            self.update_path()

    def set_gradient(self, norm: float | None) -> None:
        """Tint the wire by the gradient flowing back along it (None: its usual colour)."""
        if norm != self.gradient:
            self.gradient = norm
            self.setToolTip("" if norm is None else
                            f"{self.edge.src} → {self.edge.dst}: gradient norm {norm:.2e} "
                            "flowing back (last training sample)")
            self.update()

    def set_drop_target(self, on: bool) -> None:
        if on != self.drop_target:
            self.drop_target = on
            self.update()

    def label_rect(self, lod: float) -> QRectF:
        """Where the label is drawn at zoom ``lod`` (null when it is not: too far out, no
        shape, or no room between the cards)."""
        if not self.label or lod < LABEL_MIN_LOD:
            return QRectF()
        fm = QFontMetricsF(self.label_font(lod))
        w, h = fm.horizontalAdvance(self.label) + 10 / min(lod, 1.0), fm.height() + 2
        if w > self._room:
            return QRectF()
        return QRectF(self._label_at.x() - w / 2, self._label_at.y() - h / 2, w, h)

    @staticmethod
    def label_font(lod: float) -> QFont:
        font = QFont(fonts()["mono"])
        font.setPointSizeF(LABEL_PT / min(max(lod, LABEL_MIN_LOD), 1.0))
        return font

    def update_path(self) -> None:
        a, b = self.endpoints()
        path = wire_path(a, b)
        if b.x() >= a.x() + 2 * RETURN_RADIUS:
            self._label_at, self._room = path.pointAtPercent(0.5), b.x() - a.x() - 24
        else:
            self._label_at = QPointF((a.x() + b.x()) / 2, return_lane(a, b))
            self._room = max(a.x() - b.x() - 24, 0.0)
        rect = path.boundingRect().adjusted(-6, -6, 6, 6)
        widest = self.label_rect(LABEL_MIN_LOD)  # the largest it is ever drawn
        if not widest.isNull():
            rect = rect.united(widest.adjusted(-2, -2, 2, 2))
        if path != self._path or rect != self._rect:
            self.prepareGeometryChange()
            self._path, self._rect = path, rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        hit = stroker.createStroke(self._path)
        box = self.label_rect(1.0)
        if not box.isNull():
            hit.addRect(box)
        return hit

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        c = colors()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        color = c.error if (self.bad or self.back) else (c.wire if self.label else
                                                          c.wire_unknown)
        width = 1.8
        if self.gradient is not None and not (self.bad or self.back):
            color = gradient_tint(color, self.gradient)
            width += 1.4 * abs(gradient_strength(self.gradient))
        wide = self.isSelected() or self.drop_target
        if wide:
            color = c.selected
        if lod >= 0.35:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(color, (4.0 if self.drop_target else 2.6 if wide else width)
                   / min(max(lod, 0.3), 1.0))
        if self.back:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        box = self.label_rect(lod)
        if box.isNull():
            return
        painter.setPen(QPen(color, 1.0 / min(lod, 1.0)))
        painter.setBrush(QBrush(c.label_bg))
        painter.drawRoundedRect(box, 4, 4)
        painter.setFont(self.label_font(lod))
        painter.setPen(c.error if self.bad else c.text)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.label)


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
