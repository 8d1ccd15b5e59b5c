"""Form fields shared by the editor's inspector and the dashboard's panels, made so that they
never decide anything silently: a number that is out of range or not a number stays as typed
and the form says why, and a field never widens its panel past the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)


def narrow_combo(min_chars: int = 14) -> QComboBox:
    """A drop-down as wide as its column allows (its popup shows the long entries whole): a
    long entry, a file name, never stretches the panel or the window."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min_chars)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return combo


class NumberEdit(QLineEdit):
    """A number typed as text: what is typed stays as typed (the form checks it on Enter and
    says what is allowed next to it), never clamped, flipped or reverted by the widget. Up and
    Down step a whole number by one, as a spin box would, and commit the step at once."""

    def __init__(self, whole: bool, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.whole = whole
        self.setPlaceholderText(hint)
        self.setClearButtonEnabled(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        step = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1}.get(Qt.Key(event.key()))
        if step is not None and self.whole:
            try:
                value = int(self.text().strip())
            except ValueError:
                return super().keyPressEvent(event)
            self.setText(str(value + step))
            self.editingFinished.emit()
            return None
        return super().keyPressEvent(event)


class CheckedNumber(QWidget):
    """A number field with its rule: ``check(value)`` returns why a value is refused (None when
    it is fine). A refused or unreadable entry stays as typed with the reason under it, and
    nothing is emitted; an accepted one is emitted by ``sigValue``. ``setValue``/``value`` read
    and write it as a spin box's would (``setValue`` commits, as typing and Enter do)."""

    sigValue = Signal(object)

    def __init__(self, whole: bool, check: Callable[[Any], str | None], hint: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.whole = whole
        self.check = check
        self.edit = NumberEdit(whole, hint)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d1242f;")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        self._value: Any = None
        self.edit.editingFinished.connect(self._commit)

    def parse(self, text: str) -> Any:
        t = text.strip()
        try:
            return int(t) if self.whole else float(t)
        except ValueError:
            try:
                as_float = float(t)
            except ValueError:
                return None
            return as_float if not self.whole else None

    def _commit(self) -> None:
        text = self.edit.text()
        value = self.parse(text)
        why = (f"expected a {'whole ' if self.whole else ''}number, got {text.strip()!r}"
               if value is None else self.check(value))
        self.message.setText(why or "")
        self.message.setVisible(bool(why))
        self.edit.setStyleSheet("border: 1.5px solid #d1242f;" if why else "")
        if why is None and value != self._value:
            self._value = value
            self.sigValue.emit(value)

    @property
    def refused(self) -> bool:
        return not self.message.isHidden()

    def show_value(self, value: Any) -> None:
        """Show the model's value (no signal), unless the user's refused entry is shown."""
        self._value = value
        if not self.refused:
            self.edit.setText(_number_text(value))

    def setValue(self, value: Any) -> None:  # noqa: N802 - the spin box's name
        self.edit.setText(_number_text(value))
        self._commit()

    def value(self) -> Any:
        return self._value

    def setEnabled(self, on: bool) -> None:  # noqa: N802 - Qt's name
        self.edit.setEnabled(on)


def _number_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return "" if value is None else str(value)
