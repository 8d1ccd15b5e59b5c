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

    The widget is closed and deleted before returning, while the application still exists (its
    ``closeEvent`` may stop a training thread).
    """
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--screenshot", help="save a PNG of the widget and quit")
    parser.add_argument("--delay-ms", type=int, default=screenshot_delay_ms,
                        help="wait this long before the screenshot")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    app = application()
    widget = build(args)
    widget.setWindowTitle(title)
    widget.resize(*size)
    widget.show()
    shown = [widget]  # the screenshot reads it from here; emptied before returning
    # A local event loop rather than app.exec(): quitting the application would also end any
    # event loop started later in the same process (the tests run every demo in theirs).
    loop = QtCore.QEventLoop()
    app.lastWindowClosed.connect(loop.quit)
    if args.screenshot:
        def shoot() -> None:
            if shown:
                shown[0].grab().save(args.screenshot)
            loop.quit()

        QtCore.QTimer.singleShot(args.delay_ms, shoot)
    status = loop.exec()
    app.lastWindowClosed.disconnect(loop.quit)
    from .data_tasks import wait_all  # noqa: PLC0415

    widget.close()
    wait_all()  # background loads end before their QThread objects could be destroyed
    widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    shown.clear()
    del widget
    gc.collect()
    return status
