"""The canvas view: zoom to the mouse, pan (middle button, or Space + drag), rubber-band
selection, fit, a grid, the minimap, drops from the palette and of project files, and the Tab
quick-add popup at the mouse."""

from __future__ import annotations

import json
import math
from pathlib import Path

from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from engine.graph import GraphEditError

from ..constants import (
    MIME_LAYER,
    NODE_HEADER,
    NODE_WIDTH,
    PROJECT_SUFFIXES,
    READABLE_ZOOM,
    ZOOM_MAX,
    ZOOM_MIN,
)
from ..theme import colors
from .edge_item import EdgeItem
from .minimap import Minimap
from .scene import GraphScene


def layer_from_mime(mime: object) -> tuple[str, dict] | None:
    """``(type, params)`` from the palette's drag payload, None if it is not one."""
    if mime is None or not mime.hasFormat(MIME_LAYER):  # type: ignore[attr-defined]
        return None
    raw = bytes(mime.data(MIME_LAYER).data()).decode("utf-8", "replace")  # type: ignore[attr-defined]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    params = data.get("params", {})
    return data["type"], params if isinstance(params, dict) else {}


def project_files(mime: object) -> list[str]:
    """Local project files in a drop (``.lfproj``/``.json``)."""
    if mime is None or not mime.hasUrls():  # type: ignore[attr-defined]
        return []
    paths = [u.toLocalFile() for u in mime.urls()]  # type: ignore[attr-defined]
    return [p for p in paths if p and Path(p).suffix.lower() in PROJECT_SUFFIXES]


def node_origin_for(scene_pos: QPointF) -> tuple[float, float]:
    """Where a node dropped at ``scene_pos`` goes: its header centred under the mouse."""
    return (round(scene_pos.x() - NODE_WIDTH / 2, 1), round(scene_pos.y() - NODE_HEADER / 2, 1))


class GraphView(QGraphicsView):
    """The node editor's viewport onto a ``GraphScene``."""

    sigFilesDropped = Signal(list)  # project files dropped on the canvas
    sigQuickAddRequested = Signal(QPoint, QPointF)  # global pos, scene pos
    sigZoomChanged = Signal(float)

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.graph_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # the scene is practically unbounded; scroll bars would only mislead (pan instead)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_down = False
        self.minimap = Minimap(self, self)
        self.minimap.resize(200, 140)
        self.minimap.hide()
        self._minimap_wanted = True
        # the overview only appears when the graph does not fit in the view
        self._minimap_check = QTimer(self, singleShot=True, interval=80)
        self._minimap_check.timeout.connect(self.update_minimap)
        scene.changed.connect(lambda _rects: self._minimap_check.start())
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(lambda _v: self._minimap_check.start())
        self.sigZoomChanged.connect(lambda _z: self._minimap_check.start())

    # ================================================================ zoom and pan
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor_under_mouse: bool = True) -> None:
        target = min(ZOOM_MAX, max(ZOOM_MIN, self.zoom * factor))
        factor = target / self.zoom
        if abs(factor - 1) < 1e-6:
            return
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse
                                     if anchor_under_mouse else
                                     QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.sigZoomChanged.emit(self.zoom)

    def reset_zoom(self) -> None:
        self.zoom_by(1.0 / self.zoom, anchor_under_mouse=False)

    def fit_rect(self, rect: QRectF, max_zoom: float = 1.0) -> None:
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
        else:
            self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom > max_zoom:
                self.zoom_by(max_zoom / self.zoom, anchor_under_mouse=False)
                self.centerOn(rect.center())
            elif self.zoom < ZOOM_MIN:
                self.zoom_by(ZOOM_MIN / self.zoom, anchor_under_mouse=False)
                self.centerOn(rect.center())
        self.sigZoomChanged.emit(self.zoom)

    def fit_all(self) -> None:
        self.fit_rect(self.graph_scene.nodes_rect())

    def show_default(self) -> None:
        """The view a project opens with: the whole graph when it fits at a zoom whose text
        reads (``READABLE_ZOOM``, where cards draw their name and shape large), else that zoom
        on the graph's beginning (its top-left, where the Input is); the minimap shows the
        rest."""
        rect = self.graph_scene.nodes_rect()
        if rect.isEmpty():
            self.fit_rect(rect)
            return
        margin = 40.0
        port = self.viewport().rect()
        fit = min(port.width() / (rect.width() + 2 * margin),
                  port.height() / (rect.height() + 2 * margin))
        if fit >= READABLE_ZOOM:
            self.fit_rect(rect)
            return
        self.resetTransform()
        self.scale(READABLE_ZOOM, READABLE_ZOOM)
        seen_w, seen_h = port.width() / READABLE_ZOOM, port.height() / READABLE_ZOOM
        self.centerOn(rect.left() - margin + seen_w / 2, rect.top() - margin + seen_h / 2)
        self.sigZoomChanged.emit(self.zoom)

    def fit_selection(self) -> None:
        names = self.graph_scene.selected_nodes()
        self.fit_rect(self.graph_scene.nodes_rect(names or None))

    def center_on_node(self, name: str) -> None:
        item = self.graph_scene.node_items.get(name)
        if item is not None:
            self.centerOn(item.sceneBoundingRect().center())

    def pan_by(self, dx: int, dy: int) -> None:
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + dx)
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + dy)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            super().wheelEvent(event)  # Shift+wheel scrolls, as in most editors
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(math.pow(1.18, steps))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            p = event.position().toPoint()
            delta = p - self._pan_from
            self._pan_from = p
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_down
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # ================================================================ keys
    def event(self, event: object) -> bool:
        # Tab would move the focus to the next widget; on the canvas it opens quick-add.
        if isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress \
                and event.key() == Qt.Key.Key_Tab and not event.modifiers():
            self.request_quick_add()
            return True
        return super().event(event)  # type: ignore[arg-type]

    def request_quick_add(self) -> None:
        local = self.viewport().mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        self.sigQuickAddRequested.emit(self.viewport().mapToGlobal(local),
                                       self.mapToScene(local))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        arrows = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                  Qt.Key.Key_Down: (0, 1)}
        if key in arrows and self.graph_scene.selected_nodes():
            step = 50 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 10
            dx, dy = arrows[key]
            for name in self.graph_scene.selected_nodes():
                item = self.graph_scene.node_items[name]
                item.moveBy(dx * step, dy * step)
            self.graph_scene.commit_moves("Nudge")
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    # ================================================================ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if layer_from_mime(mime) is not None or project_files(mime):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        self.dragEnterEvent(event)  # type: ignore[arg-type]
        layer = layer_from_mime(event.mimeData())
        pos = self.mapToScene(event.position().toPoint())
        self._mark_drop_target(self.edge_at(pos) if layer is not None else None)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self._mark_drop_target(None)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._mark_drop_target(None)
        mime = event.mimeData()
        files = project_files(mime)
        if files:
            event.acceptProposedAction()
            self.sigFilesDropped.emit(files)
            return
        layer = layer_from_mime(mime)
        if layer is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.drop_layer(layer[0], self.mapToScene(event.position().toPoint()), layer[1])

    def edge_at(self, scene_pos: QPointF) -> EdgeItem | None:
        """The wire under ``scene_pos`` (within its hit stroke), if any."""
        for item in self.graph_scene.items(scene_pos):
            if isinstance(item, EdgeItem):
                return item
            if item.zValue() > 0:  # a card (or its port) covers the wire here
                return None
        return None

    def _mark_drop_target(self, edge: EdgeItem | None) -> None:
        for item in self.graph_scene.edge_items.values():
            item.set_drop_target(item is edge)

    def drop_layer(self, type_: str, scene_pos: QPointF, params: dict | None = None) -> str | None:
        """Add a ``type_`` node with its header under ``scene_pos`` and select it; dropped on a
        wire, the layer goes into that wire."""
        doc = self.graph_scene.doc
        edge = self.edge_at(scene_pos)
        try:
            if edge is None:
                name = doc.add_node(type_, node_origin_for(scene_pos), params)
            else:
                name, reason = doc.insert_on_edge(type_, edge.edge, node_origin_for(scene_pos),
                                                  params)
                if reason is not None:
                    self.graph_scene.sigMessage.emit(
                        f"Added {name} beside the wire {edge.edge.src} → {edge.edge.dst}, "
                        f"not into it: {reason}")
        except GraphEditError as exc:
            self.graph_scene.sigMessage.emit(f"Cannot add {type_}: {exc}")
            return None
        self.graph_scene.select_nodes([name])
        self.setFocus()
        return name

    # ================================================================ painting
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        c = colors()
        painter.fillRect(rect, c.background)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # crisp and 10x cheaper
        zoom = self.zoom
        step = 20.0
        while step * zoom < 12:  # keep grid lines at least 12 pixels apart
            step *= 5
        for major, color in ((False, c.grid_minor), (True, c.grid_major)):
            s = step * 5 if major else step
            left = math.floor(rect.left() / s) * s
            top = math.floor(rect.top() / s) * s
            lines = []
            x = left
            while x < rect.right():
                lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += s
            y = top
            while y < rect.bottom():
                lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += s
            painter.setPen(QPen(color, 0))
            painter.drawLines(lines)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        if self.graph_scene.node_items:
            return
        # An empty canvas says how to start, instead of looking broken.
        painter.save()
        painter.resetTransform()
        painter.setPen(colors().text_dim)
        font = painter.font()
        font.setPointSizeF(11)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                         "Drag layers here from the palette, or press Tab to search one.\n"
                         "Or start from a template: File ▸ New from Template.")
        painter.restore()

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._place_minimap()
        self._minimap_check.start()

    def _place_minimap(self) -> None:
        vp = self.viewport().geometry()
        m = self.minimap
        m.move(vp.right() - m.width() - 10, vp.bottom() - m.height() - 10)

    def set_minimap_visible(self, visible: bool) -> None:
        """Allow (or forbid) the overview; it shows while the graph overflows the view."""
        self._minimap_wanted = bool(visible)
        self.update_minimap()

    def update_minimap(self) -> None:
        nodes = self.graph_scene.nodes_rect()
        shown = self.mapToScene(self.viewport().rect()).boundingRect()
        needed = self._minimap_wanted and not nodes.isEmpty() and not shown.contains(nodes)
        if needed != self.minimap.isVisible():
            self.minimap.setVisible(needed)
            if needed:
                self._place_minimap()
                self.minimap.raise_()
