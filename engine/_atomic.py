"""Writing a file so that readers see the old content or the new one, never half of either.

Every file the engine writes (weights, checkpoints, ONNX, generated code) and the app's project
files go through ``atomic_write_bytes``: the bytes go to a temporary file beside the target, are
flushed to disk, and the temporary file is renamed over the target. Why each detail:

- The temporary name carries the writer's pid (``.<name>.<pid>.<8 hex>.tmp``), so a later write
  to the same target can tell what a killed writer left behind (its pid is gone, or the file has
  not changed for a minute) from a file a live process is still writing, and removes only the
  leftovers; a crash per epoch would otherwise leave one full-size copy per epoch.
- A target that is a symbolic link is written through: the file it resolves to is replaced and
  the link stays a link (a user who links ``weights.safetensors`` elsewhere keeps the link).
- A new file gets the mode the umask gives any new file (0644 under umask 022); a replaced file
  keeps its own mode.
- A failed write (disk full, no permission, read-only folder) removes the temporary file and
  raises ``FileWriteError`` naming the file, the bytes it needed and the space left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path

from .errors import FileWriteError

__all__ = ["STALE_AFTER_S", "atomic_write_bytes", "remove_stale_temporaries"]

# A temporary file untouched for this long is a leftover even when its pid is alive again (pids
# are reused, e.g. after a reboot): a live writer changes its file continuously until the rename.
STALE_AFTER_S = 60.0
# What comes between ".<name>." and ".tmp": this writer's "<pid>.<8 hex>", and the names older
# LayerForge versions used (tempfile.mkstemp's 8 characters, a 12-hex uuid), which carry no pid.
_OURS = re.compile(r"(\d+)\.[0-9a-f]{8}")
_LEGACY = re.compile(r"[a-z0-9_]{8}|[0-9a-f]{12}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); returns the file
    written, which is the link's target when ``path`` is a symbolic link."""
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist; create "
                                f"it first (os.makedirs(folder, exist_ok=True))")
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {path}: {target} is a folder; give a file name")
    remove_stale_temporaries(target)
    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        # 0o666 filtered by the umask, as for any new file; a replaced file keeps its mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileWriteError):
            raise _write_error(target, memoryview(data).nbytes, exc) from exc
        raise
    _fsync_folder(folder)
    return target


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until every byte is out (it may write fewer than asked)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _write_error(target: Path, needed: int, exc: OSError) -> FileWriteError:
    """The error a user can act on: what was being written, why it failed, and what to do."""
    from .graph.stats import human_bytes  # noqa: PLC0415 - only on failure

    reason = exc.strerror or str(exc)
    kept = " (the previous file is unchanged)" if target.exists() else ""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        try:
            free = f", {human_bytes(shutil.disk_usage(target.parent).free)} free"
        except OSError:
            free = ""
        text = (f"cannot write {target}: {reason} ({human_bytes(needed)} needed{free} in "
                f"{target.parent}){kept}; free some space or choose another folder, then try "
                f"again")
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        text = (f"cannot write {target}: {reason}{kept}; choose a folder you can write to, or "
                f"change the permissions of {target.parent}")
    else:
        text = f"cannot write {target}: {reason}{kept}"
    err = FileWriteError(text)
    err.errno = exc.errno  # (not strerror/filename: OSError would print those instead)
    return err


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files earlier writes of ``target`` left behind (their writer died
    before the rename); returns them. Files that may still be being written are kept."""
    target = Path(target)
    prefix, now, removed = f".{target.name}.", time.time(), []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        middle = name[len(prefix):-len(".tmp")]
        ours = _OURS.fullmatch(middle)
        if ours is None and _LEGACY.fullmatch(middle) is None:
            continue  # another file's temporary (a target named "<name>.<something>")
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile
        if not stat.S_ISREG(st.st_mode):
            continue
        idle = now - st.st_mtime > STALE_AFTER_S
        if idle or (ours is not None and not _pid_alive(int(ours.group(1)))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (assumed so where that can't be asked:
    on Windows ``os.kill`` would terminate it)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders can't be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse it; the data is synced
            os.fsync(fd)
    finally:
        os.close(fd)
