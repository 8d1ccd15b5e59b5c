"""Autosave and crash recovery.

While a window has unsaved changes, its project is written every minute to its own recovery file
(atomically), guarded by a ``QLockFile`` held for as long as the window lives. Saving or closing
cleanly deletes the file. At start-up, a recovery file whose lock is stale (the process that
held it is gone: a crash, a kill, a power cut) is offered back.

File layout: ``{"recovery": {"original": path|null, "name", "saved_at"}, "project": {...}}``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QTimer

from app.core.errors import ProjectError
from app.core.project import Project, atomic_write_text

from .constants import AUTOSAVE_INTERVAL_MS
from .document import GraphDocument

SUFFIX = ".recovery.json"


@dataclass
class Recovery:
    path: Path
    original: str | None
    name: str
    saved_at: float
    project: dict[str, Any]

    def load(self) -> Project:
        """The autosaved project; it keeps the original file's path so Save writes there."""
        project = Project.from_dict(self.project, self.original)
        return project

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        Path(str(self.path) + ".lock").unlink(missing_ok=True)


class Autosaver(QObject):
    """Writes ``doc``'s project to a recovery file every ``interval_ms`` while it is modified."""

    def __init__(self, doc: GraphDocument, directory: Path,
                 interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.directory = Path(directory)
        self.path = self.directory / f"{uuid.uuid4().hex[:12]}{SUFFIX}"
        self._lock: QLockFile | None = None
        self._saved_index: int | None = None
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def save_now(self) -> Path | None:
        """Write the recovery file if there is something unsaved (and new since the last
        autosave); delete it when there is nothing unsaved."""
        if not self.doc.modified:
            self.discard()
            return None
        index = self.doc.undo_stack.index()
        if index == self._saved_index and self.path.exists():
            return self.path
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = QLockFile(str(self.path) + ".lock")
            self._lock.setStaleLockTime(0)  # only a dead owner makes it stale, never its age
            self._lock.tryLock(0)
        project = self.doc.project
        payload = {"recovery": {"original": None if project.path is None else str(project.path),
                                "name": project.name, "saved_at": time.time()},
                   "project": project.to_dict()}
        atomic_write_text(self.path, json.dumps(payload))
        self._saved_index = index
        return self.path

    def discard(self) -> None:
        """No unsaved work any more (saved, or closed on purpose): remove the recovery file."""
        self.path.unlink(missing_ok=True)
        self._saved_index = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def stop(self) -> None:
        self.timer.stop()
        self.discard()


def find_recoveries(directory: Path) -> list[Recovery]:
    """Recovery files left by sessions that ended without cleaning up (newest first). Files of
    running sessions are skipped (their lock is held); unreadable ones are removed."""
    found: list[Recovery] = []
    if not directory.is_dir():
        return found
    for path in directory.glob(f"*{SUFFIX}"):
        lock = QLockFile(str(path) + ".lock")
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):
            continue  # another running window owns it
        lock.unlock()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            meta = data["recovery"]
            Project.from_dict(data["project"])  # only offer what can be opened
            found.append(Recovery(path, meta.get("original"), str(meta.get("name", "Untitled")),
                                  float(meta.get("saved_at", path.stat().st_mtime)),
                                  data["project"]))
        except (OSError, ValueError, KeyError, TypeError, ProjectError):
            path.unlink(missing_ok=True)
    found.sort(key=lambda r: r.saved_at, reverse=True)
    return found
