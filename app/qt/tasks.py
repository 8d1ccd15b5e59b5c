"""Background work for the window: ``BackgroundTask`` runs one plain function on a ``QThread``
and reports through queued signals; the function gets a ``TaskContext`` (``app.core``) to report
progress and to learn that it was cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from app.core.dataset_tools import TaskContext

_ALIVE: set[BackgroundTask] = set()  # running tasks, kept until their thread has ended


class BackgroundTask(QtCore.QThread):
    """Run ``fn(context)`` on a thread.

    The task has no Qt parent and keeps itself alive until its thread ends, then deletes
    itself: a QThread destroyed while running aborts the process, which a parent widget closed
    mid-task would otherwise do. Connect its signals to bound methods of a QObject, so that a
    receiver deleted in the meantime is simply not called.

    Signals:
        sigProgress(int, int, str): done, total (0 = unknown), what is happening.
        sigDone(object): the function's result.
        sigFailed(object): the exception it raised (``Cancelled`` when cancelled).
    """

    sigProgress = QtCore.Signal(int, int, str)
    sigDone = QtCore.Signal(object)
    sigFailed = QtCore.Signal(object)

    def __init__(self, fn: Callable[[TaskContext], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.context = TaskContext(self.sigProgress.emit)
        _ALIVE.add(self)
        self.finished.connect(self._release)

    def _release(self) -> None:
        _ALIVE.discard(self)
        self.deleteLater()

    def cancel(self) -> None:
        self.context.cancel()

    def run(self) -> None:
        try:
            result = self.fn(self.context)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            self.sigFailed.emit(exc)
            return
        self.sigDone.emit(result)


def start_task(fn: Callable[[TaskContext], Any], done: Callable[[Any], Any],
               failed: Callable[[BaseException], Any],
               progress: Callable[[int, int, str], Any] | None = None) -> BackgroundTask:
    """Start ``fn`` as a ``BackgroundTask`` whose outcome reaches ``done`` (its result) or
    ``failed`` (its exception), and ``progress`` its reports, all queued to the GUI thread
    (bound methods of a QObject: see ``BackgroundTask``); returns the running task."""
    task = BackgroundTask(fn)
    task.sigDone.connect(done, QtCore.Qt.QueuedConnection)
    task.sigFailed.connect(failed, QtCore.Qt.QueuedConnection)
    if progress is not None:
        task.sigProgress.connect(progress, QtCore.Qt.QueuedConnection)
    task.start()
    return task


def wait_all(timeout_ms: int = 30000) -> bool:
    """Wait for every running task (closing the app, tests); True when all ended."""
    deadline = time.monotonic() + timeout_ms / 1000
    for task in list(_ALIVE):
        left = max(int(1000 * (deadline - time.monotonic())), 0)
        task.cancel()
        if not task.wait(left):
            return False
    return True
