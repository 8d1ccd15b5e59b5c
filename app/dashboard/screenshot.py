"""Render the main window's training dashboard mid-training to a PNG (the README's screenshot):
``python -m app.dashboard.screenshot docs/screenshots/dashboard.png [template] [--fraction F]``.

Opens the template in a main window, starts training on the Training tab, and grabs the window
when ``--fraction`` of the run is done (default 0.45), while the run goes on. Runs offscreen
unless a display is set (under ``xvfb-run`` it uses the X server).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def render(out: str | Path, template: str = "mlp_digits", fraction: float = 0.45,
           size: tuple[int, int] = (1440, 860), epochs: int = 40) -> Path:
    """Grab the window once ``fraction`` of the planned steps are done (mid-training)."""
    from PySide6.QtCore import QEventLoop, QTimer  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.gui.app import create_app  # noqa: PLC0415
    from app.gui.main_window import MainWindow  # noqa: PLC0415
    from app.project import Project  # noqa: PLC0415

    app = create_app([])
    folder = Path(tempfile.mkdtemp(prefix="layerforge-screenshot-"))
    project = Project.from_template(template)
    project.training["epochs"] = epochs
    project.save(folder / f"{template}.json")
    win = MainWindow(Project.load(folder / f"{template}.json"), autosave=False)
    win.resize(*size)
    for dock in (win.palette_dock, win.inspector_dock, win.history_dock, win.problems_dock):
        dock.hide()  # the editor's panels: this picture is about training
    win.show()
    host = win.training
    host.show()
    dash = host.dashboard
    dash.show_dialogs = False
    loop = QEventLoop()
    QTimer.singleShot(300, lambda: host.train())
    t0 = time.perf_counter()
    poll = QTimer()

    def check() -> None:
        planned = dash.charts.expected_steps
        if dash.last_outcome is not None or (planned and len(dash.history) >= fraction *
                                             planned):
            loop.quit()

    poll.timeout.connect(check)
    poll.start(20)
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    poll.stop()
    dash.charts.refresh(force=True)
    QApplication.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    print(f"grabbed after {time.perf_counter() - t0:.1f} s at step {len(dash.history)}",
          file=sys.stderr)
    host.shutdown()
    win.doc.undo_stack.setClean()
    win.files.ask_save_changes = lambda: "discard"
    win.close()
    app.processEvents()
    return out


if __name__ == "__main__":  # pragma: no cover - a tool
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    fraction = 0.45
    if "--fraction" in sys.argv:
        value = sys.argv[sys.argv.index("--fraction") + 1]
        fraction = float(value)
        args.remove(value)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import app.dashboard  # noqa: F401 - pins Python's singletons before Qt is used

    print(render(args[0] if args else "docs/screenshots/dashboard.png",
                 args[1] if len(args) > 1 else "mlp_digits", fraction))
