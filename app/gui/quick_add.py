"""The quick-add popup (Tab on the canvas): type a few letters, press Enter, and the layer
appears where the mouse was.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from engine.graph import LayerSpec, all_specs

from .icons import category_icon


def rank(spec: LayerSpec, text: str) -> int | None:
    """How well ``spec`` matches the typed text (lower is better; None: no match)."""
    t = text.strip().lower()
    if not t:
        return 3
    name = spec.type.lower()
    if name == t:
        return 0
    if name.startswith(t):
        return 1
    if t in name:
        return 2
    # initials: "bn2" finds BatchNorm2d, "cv" finds ConvTranspose2d's capitals
    caps = "".join(c for c in spec.type if c.isupper() or c.isdigit()).lower()
    if caps.startswith(t):
        return 3
    if all(w in f"{name} {spec.category.lower()} {spec.help.lower()}" for w in t.split()):
        return 4
    return None


class QuickAddPopup(QFrame):
    """A search field over a list of layer types; ``sigChosen(type)`` when one is picked."""

    sigChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = QLineEdit(placeholderText="Add layer…")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(260, 300)
        self._specs = all_specs()
        self.edit.textChanged.connect(self.filter)
        self.edit.returnPressed.connect(self.choose_current)
        self.list.itemActivated.connect(lambda item: self._choose(item))
        self.edit.installEventFilter(self)
        self.filter("")

    def filter(self, text: str) -> None:
        ranked = [(r, i, s) for i, s in enumerate(self._specs)
                  if (r := rank(s, text)) is not None]
        ranked.sort(key=lambda t: (t[0], t[1]))
        self.list.clear()
        for _, _, spec in ranked:
            item = QListWidgetItem(category_icon(spec.category), spec.type)
            item.setToolTip(spec.help)
            item.setData(Qt.ItemDataRole.UserRole, spec.type)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def shown_types(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]

    def choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._choose(item)

    def _choose(self, item: QListWidgetItem) -> None:
        self.hide()
        self.sigChosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def popup(self, global_pos: QPoint) -> None:
        self.edit.clear()
        self.filter("")
        self.move(global_pos)
        self.show()
        self.edit.setFocus()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # Up/Down in the search field move through the list, as in any command palette.
        if obj is self.edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
