"""A layer on the canvas: a card with its name, type, key parameters, output shape and parameter
count, typed ports on both sides, and a red frame (an error, an unconnected input included: it
blocks training) or a dashed orange one (a warning) with the problem as tooltip. It draws what
``sync`` hands it; it never reads or writes the graph.

Level of detail: at 90 % zoom and more the whole card; below, a compact card with only the name
and the output shape, drawn large enough to read (``COMPACT_NAME_PT`` and ``COMPACT_SHAPE_PT`` on
screen), so a graph zoomed out to fit stays readable instead of turning into blocks.

While a run is watched (layer diagnostics), a card's statistics line shows its key statistic
instead (``set_badge``: a sparkline of the recent samples and the value, red when a health rule
is broken), and a compact card shows that value in place of the shape, on a red pill when bad."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from engine.graph import Node, NodeInfo, Problem

from ..constants import NODE_HEADER, NODE_LINE, NODE_PADDING, NODE_WIDTH, PORT_SPACING
from ..icons import category_icon
from ..theme import category_color, colors, fonts
from .port_item import KIND_ANY, KIND_FLOAT, KIND_INT, PortItem
from .shapes import compact_shape

if TYPE_CHECKING:
    from app.core.layer_history import Badge

    from .edge_item import EdgeItem

_PIXMAPS: dict[str, Any] = {}
FULL_DETAIL_LOD = 0.9  # zoom from which the whole card is drawn
COMPACT_NAME_PT = 10.0  # on-screen size of the name on a compact card
COMPACT_SHAPE_PT = 9.5  # and of its output shape
MIN_COMPACT_PT = 8.0  # a short card shrinks both lines down to this, then drops the shape


def format_value(value: Any) -> str:
    """A parameter value as the node shows it: ``(5, 5)`` -> ``5×5``, ``True`` -> ``yes``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "×".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


def format_count(n: float) -> str:
    """``61706`` -> ``61.7k``."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.1f}{suffix}" if v < 100 else f"{v:.0f}{suffix}"
    return f"{n:.0f}"


def _port_kind(dtype: str | None) -> str:
    return {"float32": KIND_FLOAT, "int64": KIND_INT, "float": KIND_FLOAT,
            "int": KIND_INT}.get(dtype or "", KIND_ANY)


class NodeItem(QGraphicsItem):
    """One node. ``edges`` holds the wires attached to it so a move drags them along."""

    def __init__(self, name: str, type_: str, category: str) -> None:
        super().__init__()
        self.name = name
        self.layer_type = type_  # not "type": QGraphicsItem.type() is Qt's item kind
        self.category = category
        self.in_ports: list[PortItem] = []
        self.out_ports: list[PortItem] = []
        self.edges: set[EdgeItem] = set()
        self.lines: list[tuple[str, str]] = []  # (style, text)
        self.shape_text = "→ ?"
        self.compact_shape = "?"  # the shape as a compact card and a wire show it
        self.state = "ok"  # ok / warning / error
        self.badge: Badge | None = None  # layer diagnostics of the run watched
        self._base_tip = ""
        self.height = NODE_HEADER + 2 * NODE_PADDING
        self._syncing_pos = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        # Panning and redraws of an unchanged node blit a cached pixmap instead of re-laying
        # out its text: what keeps a 300-node canvas smooth.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)

    # ---------------------------------------------------------------- content
    def sync(self, node: Node, info: NodeInfo | None, problems: list[Problem],
             connected_in: set[int], connected_out: set[int]) -> bool:
        """Show ``node`` as the model has it now; True when its ports moved (its wires must
        follow)."""
        self.name = node.name
        spec = node.spec
        values = info.values if info is not None else node.values()[0]
        lines: list[tuple[str, str]] = []
        for key in spec.face:
            lines.append(("body", f"{key}: {format_value(values.get(key))}"))
        if node.type == "Output":
            tt = info.inputs[0] if info is not None and info.inputs else None
            lines.append(("shape", f"← {tt if tt is not None else '?'}"))
        else:
            outs = info.outputs if info is not None else ()
            shown = " ".join(str(o) if o is not None else "?" for o in outs) or "?"
            lines.append(("shape", f"→ {shown}"))
        self.shape_text = lines[-1][1]
        tensors = (info.inputs[:1] if node.type == "Output" else info.outputs) \
            if info is not None else ()
        self.compact_shape = " ".join(compact_shape(t) if t is not None else "?"
                                      for t in tensors) or "?"
        # always one statistics line, so a card keeps its height while its shapes come and go
        if info is None or not info.known:
            lines.append(("dim", "params ? · FLOPs ?"))
        elif info.params:
            lines.append(("dim", f"{format_count(info.params)} params · "
                                 f"{format_count(info.flops)} FLOPs"))
        elif info.flops:
            lines.append(("dim", f"no params · {format_count(info.flops)} FLOPs"))
        else:
            lines.append(("dim", "no params"))
        errors = [p for p in problems if p.severity == "error"]
        state = "error" if errors else ("warning" if problems else "ok")

        n_in = spec.n_inputs(values)
        n_out = spec.outputs
        height = max(NODE_HEADER + 2 * NODE_PADDING + NODE_LINE * len(lines),
                     NODE_HEADER + PORT_SPACING * max(n_in, n_out, 1) + 4)
        moved = height != self.height or n_in != len(self.in_ports) or n_out != len(
            self.out_ports)
        if (lines, state, height) != (self.lines, self.state, self.height):
            if height != self.height:
                self.prepareGeometryChange()
            self.lines, self.state, self.height = lines, state, height
            self.update()
        self._sync_ports(node, info, n_in, n_out, connected_in, connected_out, moved)
        self._base_tip = self._tooltip(node, info, problems)
        self._update_tooltip()
        return moved

    def set_badge(self, badge: Badge | None) -> None:
        """Show a layer's diagnostics (None: its statistics line again)."""
        if badge != self.badge:
            self.badge = badge
            self._update_tooltip()
            self.update()

    def _update_tooltip(self) -> None:
        tip = self._base_tip
        if self.badge is not None:
            k = self.badge.key
            tip += f"\nlast training sample: {k.text}" + (" (see the Problems panel)" if
                                                          k.bad else "")
        if tip != self.toolTip():
            self.setToolTip(tip)

    def _sync_ports(self, node: Node, info: NodeInfo | None, n_in: int, n_out: int,
                    connected_in: set[int], connected_out: set[int], moved: bool) -> None:
        for ports, n, is_out in ((self.in_ports, n_in, False), (self.out_ports, n_out, True)):
            while len(ports) > n:
                port = ports.pop()
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
            while len(ports) < n:
                ports.append(PortItem(self, len(ports), is_out))
        spec = node.spec
        for port in self.in_ports:
            tt = info.inputs[port.index] if info is not None and port.index < len(
                info.inputs) else None
            rule = {"float": "float32", "int": "int64 indices", "any": "any tensor"}[
                spec.input_dtype]
            ranks = ("" if spec.input_ranks is None else
                     " of rank " + " or ".join(str(r) for r in spec.input_ranks))
            tip = f"input {port.index}: takes {rule}{ranks}"
            if tt is not None:
                tip += f"\nnow {tt} ({tt.dtype})"
            port.set_state(_port_kind(spec.input_dtype), port.index in connected_in, tip)
        for port in self.out_ports:
            tt = info.outputs[port.index] if info is not None and port.index < len(
                info.outputs) else None
            dtype = tt.dtype if tt is not None else (
                node.params.get("dtype") if node.type == "Input" else "float32")
            tip = f"output {port.index}: {tt if tt is not None else 'shape unknown yet'}"
            tip += "\ndrag to an input port to connect"
            port.set_state(_port_kind(dtype), port.index in connected_out, tip)
        if moved:
            self._place_ports()

    def _place_ports(self) -> None:
        for ports, x in ((self.in_ports, 0.0), (self.out_ports, NODE_WIDTH)):
            n = len(ports)
            body = self.height - NODE_HEADER
            for i, port in enumerate(ports):
                port.setPos(x, NODE_HEADER + body * (i + 1) / (n + 1))

    def _tooltip(self, node: Node, info: NodeInfo | None, problems: list[Problem]) -> str:
        lines = []
        for p in problems:
            where = f" (input {p.port})" if p.port is not None else ""
            lines.append(f"{'⚠' if p.severity == 'warning' else '✖'}{where} {p.message}")
        head = f"{node.name} ({node.type})"
        if info is not None and info.outputs and all(o is not None for o in info.outputs):
            head += "\noutput " + ", ".join(str(o) for o in info.outputs)
        if info is not None:
            head += f"\n{info.params:,} parameters · {info.flops:,} FLOPs per sample"
        return "\n".join(lines + ([""] if lines else []) + [head])

    # ---------------------------------------------------------------- geometry
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        # everything is drawn inside this margin at every zoom (the compact card's frame is
        # inset), so a moved card leaves no trace behind
        return QRectF(-5, -5, NODE_WIDTH + 10, self.height + 10)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_WIDTH, self.height), 6, 6)
        return path

    def set_pos_from_model(self, pos: tuple[float, float]) -> None:
        if (self.pos().x(), self.pos().y()) != pos:
            self.setPos(QPointF(*pos))

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    # ---------------------------------------------------------------- painting
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        c = colors()
        rect = QRectF(0, 0, NODE_WIDTH, self.height)
        accent = category_color(self.category)
        frame = {"error": c.error, "warning": c.warning}.get(self.state, c.node_border)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < FULL_DETAIL_LOD:
            self._paint_compact(painter, rect, accent, frame, lod)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(frame, 2.0 if self.state != "ok" else 1.0)
        if self.state == "warning":
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(c.node_body))
        painter.drawRoundedRect(rect, 6, 6)
        header = QPainterPath()
        header.setFillRule(Qt.FillRule.WindingFill)  # the two shapes overlap: union, not holes
        header.addRoundedRect(QRectF(0.5, 0.5, NODE_WIDTH - 1, NODE_HEADER), 5.5, 5.5)
        header.addRect(QRectF(0.5, NODE_HEADER / 2, NODE_WIDTH - 1, NODE_HEADER / 2))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.fillPath(header.simplified(), c.error if self.state == "error" else accent)
        pix = _PIXMAPS.get(self.category)
        if pix is None:
            pix = _PIXMAPS[self.category] = category_icon(self.category).pixmap(16, 16)
        painter.drawPixmap(QPointF(5, (NODE_HEADER - 16) / 2), pix)
        f = fonts()
        white = QColor("#ffffff")
        type_w, type_text = self._header_type_width()
        if type_text:
            painter.setFont(f["small"])
            painter.setPen(QColor(255, 255, 255, 200))
            painter.drawText(QRectF(NODE_WIDTH - type_w - 2, 0, type_w, NODE_HEADER),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             type_text)
        painter.setFont(f["title"])
        painter.setPen(white)
        name_rect = QRectF(25, 0, NODE_WIDTH - 25 - type_w - 4, NODE_HEADER)
        name = QFontMetricsF(f["title"]).elidedText(self.name, Qt.TextElideMode.ElideRight,
                                                    name_rect.width())
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignVCenter, name)
        y = NODE_HEADER + NODE_PADDING
        for style, text in self.lines:
            if style == "dim" and self.badge is not None:  # the statistics line, live
                self._paint_badge(painter, QRectF(12, y, NODE_WIDTH - 24, NODE_LINE))
                y += NODE_LINE
                continue
            if style == "shape":
                painter.setFont(f["mono"])
                painter.setPen(c.error if self.state == "error" else c.text)
            elif style == "dim":
                painter.setFont(f["small"])
                painter.setPen(c.text_dim)
            else:
                painter.setFont(f["body"])
                painter.setPen(c.text)
            box = QRectF(12, y, NODE_WIDTH - 24, NODE_LINE)
            painter.drawText(box, Qt.AlignmentFlag.AlignVCenter,
                             QFontMetricsF(painter.font()).elidedText(
                                 text, Qt.TextElideMode.ElideRight, box.width()))
            y += NODE_LINE
        if self.isSelected():
            painter.setPen(QPen(c.selected, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(-2, -2, 2, 2), 8, 8)

    def _paint_badge(self, painter: QPainter, box: QRectF) -> None:
        """A sparkline of the key statistic's recent samples, then its value (red when bad)."""
        c = colors()
        badge = self.badge
        assert badge is not None
        color = c.error if badge.key.bad else c.text_dim
        painter.setFont(fonts()["small"])
        fm = QFontMetricsF(painter.font())
        text_w = min(fm.horizontalAdvance(badge.key.text) + 2, box.width() * 0.6)
        spark = QRectF(box.left(), box.top() + 2, box.width() - text_w - 6, box.height() - 4)
        values = [v for v in badge.spark if math.isfinite(v)]
        if len(values) >= 2 and spark.width() > 8:
            if badge.key.label == "grad":  # norms span decades: a log scale
                values = [math.log10(max(v, 1e-30)) for v in values]
            lo, hi = min(values), max(values)
            span = hi - lo or 1.0
            step = spark.width() / (len(values) - 1)
            path = QPainterPath(QPointF(spark.left(), spark.bottom() - (values[0] - lo) / span
                                        * spark.height()))
            for i, v in enumerate(values[1:], 1):
                path.lineTo(spark.left() + i * step,
                            spark.bottom() - (v - lo) / span * spark.height())
            painter.setPen(QPen(color, 1.2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        painter.setPen(color)
        painter.drawText(QRectF(box.right() - text_w, box.top(), text_w, box.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         fm.elidedText(badge.key.text, Qt.TextElideMode.ElideRight, text_w))

    def _header_type_width(self) -> tuple[float, str]:
        """The room the layer type takes in the header and its (elided) text: the name comes
        first, so a long type ("TransformerEncoderLayer") shortens or goes, never the name."""
        f = fonts()
        room = NODE_WIDTH - 25 - 6
        name_w = QFontMetricsF(f["title"]).horizontalAdvance(self.name)
        small = QFontMetricsF(f["small"])
        type_w = small.horizontalAdvance(self.layer_type) + 8
        if name_w + type_w <= room:
            return type_w, self.layer_type
        type_w = min(type_w, room - name_w)
        if type_w < 48:  # too little for a readable part of the type: the tooltip has it
            return 0.0, ""
        return type_w, small.elidedText(self.layer_type, Qt.TextElideMode.ElideRight,
                                        type_w - 8)

    def compact_fonts(self, lod: float) -> tuple[QFont, QFont | None]:
        """The name's and the shape's fonts on a compact card at zoom ``lod``: as large on
        screen as ``COMPACT_NAME_PT``/``COMPACT_SHAPE_PT`` while both lines fit the card, both
        a little smaller on a short card, and the name alone on a far overview (when the two
        lines would read under ``MIN_COMPACT_PT``)."""
        lod = max(lod, 0.02)
        name = QFont(fonts()["title"])
        name.setPointSizeF(COMPACT_NAME_PT / lod)
        shape = QFont(fonts()["mono"])
        shape.setPointSizeF(COMPACT_SHAPE_PT / lod)
        room = self.height - 4
        lines = QFontMetricsF(name).height() + QFontMetricsF(shape).height()
        scale = min(1.0, room / lines)
        if COMPACT_SHAPE_PT * scale >= MIN_COMPACT_PT:
            name.setPointSizeF(name.pointSizeF() * scale)
            shape.setPointSizeF(shape.pointSizeF() * scale)
            return name, shape
        scale = min(1.0, room / QFontMetricsF(name).height())
        name.setPointSizeF(name.pointSizeF() * scale)
        return name, None

    def screen_points(self, lod: float) -> tuple[float, float | None]:
        """On-screen point sizes of the name and the output shape at zoom ``lod`` (None: the
        shape is not drawn). Tests read legibility from this, the painter draws with it."""
        if lod >= FULL_DETAIL_LOD:
            return fonts()["title"].pointSizeF() * lod, fonts()["mono"].pointSizeF() * lod
        name, shape = self.compact_fonts(lod)
        return name.pointSizeF() * lod, None if shape is None else shape.pointSizeF() * lod

    def _paint_compact(self, painter: QPainter, rect: QRectF, accent: QColor, frame: QColor,
                       lod: float) -> None:
        """Zoomed out: the card in its category colour with its name and output shape, large;
        a frame (inset, so it stays inside the card) marks errors, warnings and selection."""
        c = colors()
        fill = c.error if self.state == "error" else accent
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= 0.2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(rect, 6, 6)
        if self.state != "ok" or self.isSelected():
            width = min(3.0 / max(lod, 0.05), rect.height() / 4)
            pen = QPen(c.selected if self.isSelected() else frame, width)
            if self.state == "warning" and not self.isSelected():
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(width / 2, width / 2, -width / 2, -width / 2))
        if lod < 0.12:  # the minimap: blocks only
            return
        name_font, shape_font = self.compact_fonts(lod)
        box = rect.adjusted(8, 2, -8, -2)
        painter.setPen(QColor("#ffffff"))
        name_h = QFontMetricsF(name_font).height()
        shape_h = QFontMetricsF(shape_font).height() if shape_font is not None else 0.0
        top = box.top() + (box.height() - name_h - shape_h) / 2
        painter.setFont(name_font)
        painter.drawText(QRectF(box.left(), top, box.width(), name_h),
                         Qt.AlignmentFlag.AlignCenter,
                         QFontMetricsF(name_font).elidedText(
                             self.name, Qt.TextElideMode.ElideRight, box.width()))
        if shape_font is not None:
            painter.setFont(shape_font)
            fm = QFontMetricsF(shape_font)
            line = QRectF(box.left(), top + name_h, box.width(), shape_h)
            if self.badge is not None:  # the live statistic in place of the shape
                text = fm.elidedText(self.badge.key.text, Qt.TextElideMode.ElideRight,
                                     box.width() - 8 / max(lod, 0.05))
                if self.badge.key.bad:
                    w = min(fm.horizontalAdvance(text) + 8 / max(lod, 0.05), box.width())
                    pill = QRectF(line.center().x() - w / 2, line.top(), w, line.height())
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(QBrush(c.error))
                    painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
                    painter.setPen(QColor("#ffffff"))
                painter.drawText(line, Qt.AlignmentFlag.AlignCenter, text)
                return
            painter.drawText(line, Qt.AlignmentFlag.AlignCenter,
                             fm.elidedText(self.compact_shape, Qt.TextElideMode.ElideMiddle,
                                           box.width()))
