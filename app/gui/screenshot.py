"""Render the editor with a template to a PNG (the README's screenshot):
``python -m app.gui.screenshot docs/screenshots/editor.png [template] [--dark]``.

Runs offscreen unless a display is set, so it works on a headless machine or under Xvfb.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def render(out: str | Path, template: str = "lenet5", size: tuple[int, int] = (1440, 860),
           select_type: str = "Conv2d", show_nodes: int = 4) -> Path:
    """Open ``template`` in a main window, select its first ``select_type`` node, frame the
    first ``show_nodes`` nodes at a readable zoom, and save the window to ``out``."""
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.project import Project  # noqa: PLC0415

    from .app import create_app  # noqa: PLC0415
    from .main_window import MainWindow  # noqa: PLC0415

    app = create_app([])
    win = MainWindow(Project.from_template(template), autosave=False)
    win.resize(*size)
    win.show()
    for _ in range(3):
        QApplication.processEvents()
    win.auto_layout()  # templates are spaced for smaller cards; also shows the layout
    win.doc.mark_saved()
    names = list(win.doc.graph.nodes)
    chosen = next((n for n in names if win.doc.graph.node(n).type == select_type), None)
    win.view.fit_rect(win.scene.nodes_rect(names[:show_nodes]), max_zoom=1.0)
    if chosen is not None:
        win.scene.select_nodes([chosen])
    win.view.update_minimap()
    for _ in range(3):
        QApplication.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    win.doc.undo_stack.setClean()
    win.close()
    app.processEvents()
    return out


if __name__ == "__main__":  # pragma: no cover - a tool
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--dark" in sys.argv:
        os.environ["LAYERFORGE_THEME"] = "dark"
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(render(args[0] if args else "docs/screenshots/editor.png",
                 args[1] if len(args) > 1 else "lenet5"))
