"""Icons for layer categories, loaded once from ``resources/icons/<category>.svg``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

from engine._resources import resources_dir

ICONS_DIR = resources_dir() / "icons"  # checkout, wheel or frozen build


def category_slug(category: str) -> str:
    """``Input/Output`` -> ``input-output`` (the icon's file name)."""
    return "".join(c if c.isalnum() else "-" for c in category.lower()).strip("-")


def icon_path(category: str) -> Path:
    return ICONS_DIR / f"{category_slug(category)}.svg"


@cache
def category_icon(category: str) -> QIcon:
    """The category's icon; an empty icon (not an error) for a category without a file, so a
    layer declared in a new category still shows up in the palette."""
    path = icon_path(category)
    return QIcon(str(path)) if path.is_file() else QIcon()


@cache
def app_icon() -> QIcon:
    return QIcon(str(ICONS_DIR / "layerforge.svg"))


@cache
def action_icon(name: str) -> QIcon:
    """A toolbar icon drawn in a mid grey that reads on light and dark themes alike."""
    path = ICONS_DIR / f"action-{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
