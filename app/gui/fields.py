"""Form fields shared by the editor's inspector and the dashboard's panels, made so that they
never decide anything silently: a number that is out of range or not a number stays as typed
and the form says why, and a field never widens its panel past the window.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QSizePolicy


def narrow_combo(min_chars: int = 14) -> QComboBox:
    """A drop-down as wide as its column allows (its popup shows the long entries whole): a
    long entry, a file name, never stretches the panel or the window."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min_chars)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return combo
