"""Light and dark themes that follow the system, and the canvas colours of each.

Widgets take their colours from the application palette (Fusion style, so the look is the same
on every platform); the canvas, which paints itself, reads a ``CanvasColors`` from ``colors()``.
``LAYERFORGE_THEME=dark|light`` overrides the system choice (screenshots, testing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

# One hue per palette category: the node header, the palette icon and the minimap share it.
# Activations were red-orange, too close to the error red: a whole network of them looked
# broken. Every hue here keeps white header text readable (contrast >= 3:1).
CATEGORY_COLORS = {
    "Input/Output": "#2e9d5b", "Core": "#3a78d4", "Convolution": "#8a56cc",
    "Pooling": "#b05bb0", "Normalization": "#8c6239", "Activation": "#c27c0e",
    "Regularization": "#6f7f8f", "Shape": "#3c9aa5", "Merge": "#c4477a",
    "Recurrent": "#4b8a3c", "Embedding": "#7a6a3a",
}
DEFAULT_CATEGORY_COLOR = "#667788"


@dataclass(frozen=True)
class CanvasColors:
    dark: bool
    background: QColor
    grid_minor: QColor
    grid_major: QColor
    node_body: QColor
    node_border: QColor
    selected: QColor
    text: QColor
    text_dim: QColor
    error: QColor
    warning: QColor
    wire: QColor
    wire_unknown: QColor
    label_bg: QColor
    accept: QColor
    refuse: QColor
    port_float: QColor
    port_int: QColor
    port_any: QColor


def _canvas(dark: bool) -> CanvasColors:
    c = QColor
    if dark:
        return CanvasColors(
            True, c("#1e1f22"), c("#27292d"), c("#31343a"), c("#2b2d31"), c("#4a4e56"),
            c("#f2b134"), c("#e8e8ea"), c("#a0a4ab"), c("#e5484d"), c("#e08a2c"), c("#8d95a3"),
            c("#5a606b"), c("#2b2d31"), c("#3fbf6f"), c("#e5484d"), c("#6aa7ff"), c("#e6b450"),
            c("#b0b5bd"))
    return CanvasColors(
        False, c("#f4f5f7"), c("#e6e8eb"), c("#d5d9de"), c("#ffffff"), c("#b8bec6"),
        c("#e69a00"), c("#1f2328"), c("#5d6670"), c("#d1242f"), c("#c96b00"), c("#6e7781"),
        c("#b0b7bf"), c("#ffffff"), c("#1f9d55"), c("#d1242f"), c("#2f6fdb"), c("#b7791f"),
        c("#6e7781"))


_CURRENT: CanvasColors | None = None


THEMES = ("system", "light", "dark")
_choice = "system"  # View > Theme (kept in the app's settings)


def set_choice(choice: str) -> None:
    """Light, dark, or the desktop's (``system``); ``apply_theme`` then uses it."""
    global _choice
    if choice not in THEMES:
        raise ValueError(f"unknown theme {choice!r}; choose one of {', '.join(THEMES)}")
    _choice = choice


def system_is_dark() -> bool:
    """Whether to draw dark: the user's choice (View > Theme), else the desktop's;
    ``LAYERFORGE_THEME`` overrides both (tests, scripts)."""
    forced = os.environ.get("LAYERFORGE_THEME", "").lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    if _choice != "system":
        return _choice == "dark"
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def refresh() -> CanvasColors:
    """Re-read the system's choice (at start and when the desktop switches theme)."""
    global _CURRENT
    _CURRENT = _canvas(system_is_dark())
    return _CURRENT


def colors() -> CanvasColors:
    """The canvas colours of the current theme (read once: every paint asks for them)."""
    return _CURRENT if _CURRENT is not None else refresh()


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, DEFAULT_CATEGORY_COLOR))


def _dark_palette() -> QPalette:
    p = QPalette()
    role, c = QPalette.ColorRole, QColor
    for r, col in ((role.Window, "#2b2d31"), (role.WindowText, "#e8e8ea"), (role.Base, "#1e1f22"),
                   (role.AlternateBase, "#26282c"), (role.ToolTipBase, "#3a3d43"),
                   (role.ToolTipText, "#f0f0f0"), (role.Text, "#e8e8ea"),
                   (role.Button, "#33363b"), (role.ButtonText, "#e8e8ea"),
                   (role.BrightText, "#ff6b6b"), (role.Highlight, "#3a78d4"),
                   (role.HighlightedText, "#ffffff"), (role.Link, "#6aa7ff"),
                   (role.PlaceholderText, "#8a8f98"), (role.Mid, "#3d4046"),
                   (role.Dark, "#18191b"), (role.Midlight, "#3a3d43"), (role.Light, "#4a4e56")):
        p.setColor(r, c(col))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, c("#7a7f88"))
    return p


def retheme(app: QApplication) -> None:
    """Draw every window in the current theme (the desktop or the user switched it)."""
    apply_theme(app)
    for widget in app.topLevelWidgets():
        scene = getattr(widget, "scene", None)
        if hasattr(scene, "retheme"):
            scene.retheme()


def apply_theme(app: QApplication) -> bool:
    """Fusion style with a palette matching the system's light/dark choice; returns dark."""
    dark = refresh().dark
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return dark


_FONTS: dict[str, QFont] = {}


def fonts() -> dict[str, QFont]:
    """Fonts made once (after the QApplication exists) and shared by every node. Names and
    shapes are the text people must read at the view a graph opens with: 10 pt and over at
    100 % zoom (the cards switch to a compact drawing with larger text below that)."""
    if not _FONTS:
        title = QFont()
        title.setPointSizeF(10.5)
        title.setBold(True)
        small = QFont()
        small.setPointSizeF(8.0)
        body = QFont()
        body.setPointSizeF(9.0)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(10.0)
        _FONTS.update(title=title, small=small, body=body, mono=mono)
    return _FONTS
