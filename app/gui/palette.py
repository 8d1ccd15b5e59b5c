"""The layer palette: every registered layer type grouped by category, a search box, icons, and
drags that carry the type to the canvas under a custom MIME type.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.graph import LayerSpec, categories

from .constants import MIME_LAYER
from .icons import category_icon

TYPE_ROLE = Qt.ItemDataRole.UserRole


def layer_mime(type_: str, params: dict | None = None) -> QMimeData:
    """The drag payload for one layer type (what the canvas's drop handler reads)."""
    mime = QMimeData()
    mime.setData(MIME_LAYER, json.dumps({"type": type_, "params": params or {}}).encode())
    mime.setText(type_)
    return mime


def matches(spec: LayerSpec, text: str) -> bool:
    """Search: every word must appear in the type, category or help text."""
    hay = f"{spec.type} {spec.category} {spec.help}".lower()
    return all(word in hay for word in text.lower().split())


class _LayerTree(QTreeWidget):
    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt API
        return [MIME_LAYER]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 - Qt API
        types = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        return layer_mime(types[0]) if types else QMimeData()


class PaletteWidget(QWidget):
    """Drag a layer onto the canvas, or double-click / press Enter to add it at the centre."""

    sigLayerActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers…  (e.g. conv, norm, pool)")
        self.search.setClearButtonEnabled(True)
        self.tree = _LayerTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._specs: dict[str, LayerSpec] = {}
        self._build()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first_visible)
        self.tree.itemActivated.connect(self._on_activated)

    def _build(self) -> None:
        for category, specs in categories().items():
            group = QTreeWidgetItem(self.tree, [category])
            group.setIcon(0, category_icon(category))
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self._groups[category] = group
            for spec in specs:
                item = QTreeWidgetItem(group, [spec.type])
                item.setIcon(0, category_icon(category))
                item.setData(0, TYPE_ROLE, spec.type)
                tip = spec.help
                if not spec.available():
                    tip += "\n(not in this build's engine yet: it can be drawn but not trained)"
                item.setToolTip(0, tip)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                self.items[spec.type] = item
                self._specs[spec.type] = spec
        self.tree.expandAll()

    def filter(self, text: str) -> None:
        """Show only the layers matching ``text`` (and their categories)."""
        for group in self._groups.values():
            visible = 0
            for i in range(group.childCount()):
                item = group.child(i)
                hit = not text.strip() or matches(self._specs[item.data(0, TYPE_ROLE)], text)
                item.setHidden(not hit)
                visible += hit
            group.setHidden(visible == 0)
            if text.strip():
                group.setExpanded(True)

    def visible_types(self) -> list[str]:
        return [t for t, item in self.items.items()
                if not item.isHidden() and not item.parent().isHidden()]

    def _activate_first_visible(self) -> None:
        visible = self.visible_types()
        if visible:
            self.sigLayerActivated.emit(visible[0])

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        type_ = item.data(0, TYPE_ROLE)
        if type_:
            self.sigLayerActivated.emit(type_)
