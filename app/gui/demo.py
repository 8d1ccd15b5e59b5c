"""Run one widget alone (``python -m app.gui.palette`` and friends use this).

``LAYERFORGE_EXIT_AFTER_SHOW=1`` quits as soon as the widget has been shown and painted once,
which is how the tests smoke-run every widget module and how the benchmark times start-up.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget


def exit_after_show_requested() -> bool:
    return os.environ.get("LAYERFORGE_EXIT_AFTER_SHOW", "") not in ("", "0")


def quit_when_shown(started: float | None = None) -> None:
    """Schedule a quit after the first paint, reporting the time since ``started``."""
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    def done() -> None:
        if started is not None:
            print(f"first window shown after {time.perf_counter() - started:.3f} s",
                  file=sys.stderr)
        QApplication.quit()

    QTimer.singleShot(0, done)


def run_alone(make: Callable[[], QWidget], size: tuple[int, int] = (420, 600)) -> int:
    from .app import create_app  # noqa: PLC0415

    app = create_app(sys.argv[:1])
    widget = make()
    widget.resize(*size)
    widget.show()
    if exit_after_show_requested():
        quit_when_shown()
    return app.exec()
