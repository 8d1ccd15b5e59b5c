"""An overview of the whole graph in a corner of the canvas; the frame shows what the canvas
shows, and clicking or dragging in the overview moves the canvas there.

The scene is rendered into a pixmap only after it changes (at most every 200 ms), so panning
the canvas repaints the overview as one image plus its frame, whatever the graph's size.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsView, QWidget

from ..theme import colors

MARGIN = 40.0


class Minimap(QWidget):
    def __init__(self, main_view: QGraphicsView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.main_view = main_view
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the canvas (M hides it)")
        self._pixmap = QPixmap()
        self._source = QRectF()  # the scene rectangle the pixmap shows
        self._target = QRectF()  # where that rectangle lies in the widget
        self._refit = QTimer(self, singleShot=True, interval=200)
        self._refit.timeout.connect(self.fit)
        scene = main_view.scene()
        scene.changed.connect(self._scene_changed)
        for bar in (main_view.horizontalScrollBar(), main_view.verticalScrollBar()):
            bar.valueChanged.connect(self.update)

    def _scene_changed(self, _rects: object) -> None:
        if self.isVisible() and not self._refit.isActive():
            self._refit.start()

    def fit(self) -> None:
        """Re-render the whole graph into the overview image."""
        scene = self.main_view.scene()
        rect = scene.itemsBoundingRect() if scene is not None else QRectF()
        if rect.isEmpty():
            rect = QRectF(-200, -150, 400, 300)
        rect = rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)
        size = self.size()
        scale = min(size.width() / rect.width(), size.height() / rect.height())
        w, h = rect.width() * scale, rect.height() * scale
        self._target = QRectF((size.width() - w) / 2, (size.height() - h) / 2, w, h)
        self._source = rect
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(max(1, int(size.width() * ratio)), max(1, int(size.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        bg = QColor(colors().background)
        pixmap.fill(bg)
        if scene is not None:
            painter = QPainter(pixmap)
            scene.render(painter, self._target, self._source)
            painter.end()
        self._pixmap = pixmap
        self.update()

    def visible_rect(self) -> QRectF:
        """The part of the scene the main canvas shows."""
        v = self.main_view
        return v.mapToScene(v.viewport().rect()).boundingRect()

    def _to_widget(self, r: QRectF) -> QRectF:
        if self._source.isEmpty():
            return QRectF()
        sx = self._target.width() / self._source.width()
        sy = self._target.height() / self._source.height()
        return QRectF(self._target.x() + (r.x() - self._source.x()) * sx,
                      self._target.y() + (r.y() - self._source.y()) * sy,
                      r.width() * sx, r.height() * sy)

    def _to_scene(self, p: QPointF) -> QPointF:
        if self._target.isEmpty():
            return QPointF()
        sx = self._source.width() / self._target.width()
        sy = self._source.height() / self._target.height()
        return QPointF(self._source.x() + (p.x() - self._target.x()) * sx,
                       self._source.y() + (p.y() - self._target.y()) * sy)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        c = colors()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        frame = QColor(c.selected)
        painter.setPen(QPen(frame, 1.5))
        fill = QColor(frame)
        fill.setAlpha(28)
        painter.setBrush(fill)
        painter.drawRect(self._to_widget(self.visible_rect()).intersected(
            QRectF(self.rect()).adjusted(1, 1, -1, -1)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(c.node_border, 1))
        painter.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.main_view.centerOn(self._to_scene(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.main_view.centerOn(self._to_scene(event.position()))

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)  # type: ignore[arg-type]
        self.fit()

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)  # type: ignore[arg-type]
        self.fit()
