"""LayerForge's desktop app (PySide6): the main window and the node editor.

``main(project_path=None) -> int`` starts it (``layerforge`` and ``layerforge PROJECT`` call it).
Importing this package does not import Qt, so the command line stays fast without a display.
"""

from __future__ import annotations

from pathlib import Path

from ._compat import pin_singletons

pin_singletons()  # before any PySide6 call: see _compat for the PySide6 6.12 / Python 3.11 bug


def main(project_path: str | Path | None = None, argv: list[str] | None = None) -> int:
    from .app import main as _main  # noqa: PLC0415 - Qt only when the GUI is wanted

    return _main(project_path, argv)


__all__ = ["main"]
