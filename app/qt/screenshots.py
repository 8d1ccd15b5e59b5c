"""The README's screenshots, rendered from the real window:
``python -m app.qt.screenshots editor docs/screenshots/editor.png [template] [--dark]``,
``python -m app.qt.screenshots dashboard docs/screenshots/dashboard.png [template] [--fraction F]``
and ``python -m app.qt.screenshots diagnostics docs/screenshots/diagnostics.png [template]
[--fraction F] [--lr LR|none]`` (the graph with its layer diagnostics while it trains; ``none``
keeps the template's learning rate).

Runs offscreen unless a display is set (under ``xvfb-run`` it uses the X server).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCREEN = (1366, 768)  # the window size most laptops give; the README shows what they see


def editor(out: str | Path, template: str = "lenet5", size: tuple[int, int] = SCREEN,
           select_type: str = "Conv2d") -> Path:
    """Open ``template`` as the app opens it (its saved layout, the default view, the docks
    where they start), select its first ``select_type`` node so the Inspector has something
    to show, and save the window to ``out``."""

    from app.core.project import Project  # noqa: PLC0415
    from app.gui.app import create_app  # noqa: PLC0415
    from app.gui.main_window import MainWindow  # noqa: PLC0415

    app = create_app([])
    win = MainWindow(Project.from_template(template), autosave=False)
    win.resize(*size)
    win.show()
    _settle(app)  # the default view is set once the window is shown
    names = list(win.doc.graph.nodes)
    chosen = next((n for n in names if win.doc.graph.node(n).type == select_type), None)
    if chosen is not None:
        win.scene.select_nodes([chosen])
    _settle(app)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    win.doc.undo_stack.setClean()
    win.close()
    app.processEvents()
    return out


def _settle(app: object, seconds: float = 0.3) -> None:
    """Run the event loop's work for ``seconds``, as ``app.exec()`` would: posted events and
    also the deferred deletions, which ``processEvents`` alone never delivers (Qt then keeps,
    and paints, the tab bar it dropped when the Diagnostics dock joined Problems: a stray
    "Problems | Diagnostics" bar over the Layers dock that the running app never shows)."""
    from PySide6.QtCore import QEvent  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        time.sleep(0.02)


def _training_window(template: str, epochs: int, size: tuple[int, int],
                     lr: float | None = None) -> tuple[Any, Any]:
    """The application and a window on a saved copy of ``template`` (its runs go beside it, in
    a temporary folder), shown at ``size``."""
    from app.core.project import Project  # noqa: PLC0415
    from app.gui.app import create_app  # noqa: PLC0415
    from app.gui.main_window import MainWindow  # noqa: PLC0415

    app = create_app([])
    folder = Path(tempfile.mkdtemp(prefix="layerforge-screenshot-"))
    project = Project.from_template(template)
    project.training["epochs"] = epochs
    if lr is not None:
        project.training["optimizer"]["lr"] = lr
    project.save(folder / f"{template}.json")
    win = MainWindow(Project.load(folder / f"{template}.json"), autosave=False)
    win.resize(*size)
    win.show()
    win.training.dashboard.show_dialogs = False
    return app, win


def _grab_mid_run(app: Any, win: Any, out: str | Path, start: Any, ready: Any,
                  before: Any = None) -> Path:
    """Call ``start``, wait until ``ready()`` (or the run's end, or two minutes), call
    ``before`` (final redraws), save the window to ``out``, then stop and close it."""
    from PySide6.QtCore import QEventLoop, QTimer  # noqa: PLC0415

    dash = win.training.dashboard
    loop = QEventLoop()
    QTimer.singleShot(300, start)
    t0 = time.perf_counter()
    poll = QTimer()
    poll.timeout.connect(lambda: (dash.last_outcome is not None or ready()) and loop.quit())
    poll.start(20)
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    poll.stop()
    if before is not None:
        before()
    _settle(app, 0.1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    print(f"grabbed after {time.perf_counter() - t0:.1f} s at step {len(dash.history)}",
          file=sys.stderr)
    win.close_discarding()
    app.processEvents()
    return out


def _done(dash: Any, fraction: float) -> bool:
    planned = dash.charts.expected_steps
    return bool(planned) and len(dash.history) >= fraction * planned


def dashboard(out: str | Path, template: str = "mlp_digits", fraction: float = 0.45,
              size: tuple[int, int] = SCREEN, epochs: int = 40) -> Path:
    """Grab the window once ``fraction`` of the planned steps are done (mid-training)."""
    app, win = _training_window(template, epochs, size)
    host = win.training
    host.show()  # the Training tab hides the editor's docks itself
    dash = host.dashboard
    return _grab_mid_run(app, win, out, host.train, lambda: _done(dash, fraction),
                         lambda: dash.charts.refresh(force=True))


def diagnostics(out: str | Path, template: str = "mlp_digits", fraction: float = 0.3,
                size: tuple[int, int] = SCREEN, epochs: int = 100, lr: float | None = 0.3,
                select: str = "relu1") -> Path:
    """The Network tab mid-training, in the window's own layout: badges on the cards, wires
    tinted by gradient, the Diagnostics tab (beside Problems, made taller) on ``select``.
    ``lr`` (0.3 on the seed MLP kills its ReLUs) makes the picture show what the warnings are
    for; the grab waits for its warning then."""
    from PySide6.QtCore import Qt  # noqa: PLC0415

    app, win = _training_window(template, epochs, size, lr)
    _settle(app)
    hub = win.training.diagnostics
    hub.dock.raise_()  # its tab beside Problems, where the window puts it
    win.resizeDocks([win.problems_dock], [250], Qt.Orientation.Vertical)  # as a user drags it
    _settle(app)
    win.view.show_default()  # the opening view again, in the shorter canvas
    _settle(app)
    win.tabs.setCurrentIndex(0)
    win.scene.select_nodes([select])
    dash = win.training.dashboard
    return _grab_mid_run(app, win, out, dash.start_training,
                         lambda: _done(dash, fraction) and (bool(hub.history.warnings) or
                                                            lr is None), hub.refresh)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    words = [a for a in args if not a.startswith("--")]
    if not words or words[0] not in ("editor", "dashboard", "diagnostics"):
        print("usage: python -m app.qt.screenshots editor|dashboard|diagnostics OUT.png "
              "[template] [--dark] [--fraction F] [--lr LR]", file=sys.stderr)
        return 2
    if "--dark" in args:
        os.environ["LAYERFORGE_THEME"] = "dark"
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import app.qt  # noqa: F401, PLC0415 - pins Python's singletons before Qt is used

    kind, rest = words[0], words[1:]
    if kind == "editor":
        print(editor(rest[0] if rest else "docs/screenshots/editor.png",
                     rest[1] if len(rest) > 1 else "lenet5"))
        return 0
    options = {}
    for flag in ("--fraction", "--lr"):
        if flag in args:
            value = args[args.index(flag) + 1]
            options[flag[2:]] = None if value == "none" else float(value)
            rest = [w for w in rest if w != value]
    template = rest[1] if len(rest) > 1 else "mlp_digits"
    if kind == "diagnostics":
        print(diagnostics(rest[0] if rest else "docs/screenshots/diagnostics.png", template,
                          options.get("fraction", 0.3), lr=options.get("lr", 0.3)))
        return 0
    print(dashboard(rest[0] if rest else "docs/screenshots/dashboard.png", template,
                    options.get("fraction", 0.45)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
