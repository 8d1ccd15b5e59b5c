"""An advisory lock on a file, held by an open handle: two writers of one project file take turns,
and a run folder says whether the process that trains into it is still alive.

Why an OS lock and not a "lock file exists" flag: the operating system drops the lock when its
process ends, however it ends (a crash, ``kill -9``, a power cut), so a stale lock can never
block anyone and "is anyone still writing here" has a true answer. POSIX uses ``flock``, Windows
``msvcrt.locking``. The lock file itself is left in place (removing it would race with the next
taker).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(f: IO[bytes]) -> bool:
        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(f: IO[bytes]) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class LockTimeout(TimeoutError):
    """The lock stayed taken for longer than the caller would wait."""


class FileLock:
    """``with FileLock(path): ...`` holds an exclusive lock on ``path`` (created if needed).

    ``note`` is written into the lock file while it is held (a pid, a run id) so a person who
    finds it can tell who holds it; the lock itself is the OS's.
    """

    def __init__(self, path: str | os.PathLike[str], note: str = "") -> None:
        self.path = Path(path)
        self.note = note
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False at once if another handle holds it."""
        if self._file is not None:
            return True
        f = open(self.path, "a+b")  # noqa: SIM115 - kept open for as long as the lock is held
        try:
            if not _try_lock(f):
                f.close()
                return False
            if self.note:
                f.seek(0)
                f.truncate()
                f.write(self.note.encode("utf-8", "replace"))
                f.flush()
        except BaseException:
            f.close()
            raise
        self._file = f
        return True

    def acquire(self, timeout: float = 10.0, poll: float = 0.02) -> FileLock:
        """Wait up to ``timeout`` seconds for the lock; ``LockTimeout`` naming the file if it
        stays taken."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{self.path} stayed locked by another process for "
                                  f"{timeout:g} s")
            time.sleep(poll)
        return self

    def release(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:
            _unlock(f)
        finally:
            f.close()

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def is_locked(path: str | os.PathLike[str]) -> bool:
    """Whether some live handle holds the lock on ``path`` (False when the file is missing)."""
    if not Path(path).exists():
        return False
    probe = FileLock(path)
    if probe.try_acquire():
        probe.release()
        return False
    return True
