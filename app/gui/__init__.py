"""LayerForge's desktop app (PySide6): the main window and the node editor.

``main(project_path=None) -> int`` starts it (``layerforge`` and ``layerforge PROJECT`` call it).
Importing this package does not import Qt, so the command line stays fast without a display.
"""

from __future__ import annotations

from pathlib import Path

import app.qt  # noqa: F401 - pins None/True/False before any PySide6 call (app.qt._compat)


def main(project_path: str | Path | None = None, argv: list[str] | None = None) -> int:
    from .app import main as _main  # noqa: PLC0415 - Qt only when the GUI is wanted

    return _main(project_path, argv)


__all__ = ["main"]
