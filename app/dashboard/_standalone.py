"""Run one dashboard widget on its own (``python -m app.dashboard.<module>``), with sample data,
optionally saving a screenshot and quitting: every widget can be looked at and smoke-tested alone.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence

from PySide6 import QtCore, QtWidgets


def application() -> QtWidgets.QApplication:
    """The running QApplication, or a new one."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
    return app  # type: ignore[return-value]


def run(build: Callable[[argparse.Namespace], QtWidgets.QWidget], title: str,
        argv: Sequence[str] | None = None, size: tuple[int, int] = (900, 600),
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        screenshot_delay_ms: int = 1200) -> int:
    """Show ``build(args)`` in a window; ``--screenshot PNG`` saves it and quits.

    The widget is deleted before the QApplication: letting Python collect them in any order at
    exit can crash PySide6 during finalisation.
    """
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--screenshot", help="save a PNG of the widget and quit")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    app = application()
    widget = build(args)
    widget.setWindowTitle(title)
    widget.resize(*size)
    widget.show()
    shown = [widget]  # the screenshot reads it from here; emptied before the app goes
    if args.screenshot:
        def shoot() -> None:
            if shown:
                shown[0].grab().save(args.screenshot)
            app.quit()

        QtCore.QTimer.singleShot(screenshot_delay_ms, shoot)
    status = app.exec()
    widget.close()
    widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    shown.clear()
    del widget
    gc.collect()
    return status
