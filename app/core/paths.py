"""Where LayerForge keeps what is not inside a project's folder: the user's data folder (runs of
projects that cannot hold their own, the crash log) and the test of whether a project may be
written beside.

Why not Qt's ``QStandardPaths``: the command line and ``mpiexec`` ranks must agree with the
window on these places without importing Qt, so the platform rule is written out here once.
``LAYERFORGE_DATA_DIR`` overrides it (tests, portable installs).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

from engine._resources import resources_dir

APP_DIR_NAME = "LayerForge"


def user_data_dir() -> Path:
    """The per-user data folder: ``$LAYERFORGE_DATA_DIR``, else the platform's usual place
    (``~/.local/share/layerforge`` on Linux, ``~/Library/Application Support/LayerForge`` on
    macOS, ``%LOCALAPPDATA%\\LayerForge`` on Windows). Not created here."""
    override = os.environ.get("LAYERFORGE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA")
        return Path(base) / APP_DIR_NAME if base else home / "AppData" / "Local" / APP_DIR_NAME
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR_NAME
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else home / ".local" / "share") / APP_DIR_NAME.lower()


def input_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` if it is a regular file to read ``what`` from, else an ``InputFileError`` that
    says what it is instead (missing, a folder, a pipe or device, unreadable)."""
    from .errors import InputFileError  # noqa: PLC0415 - errors is a leaf; keep paths one too

    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise InputFileError(f"{what}: no such file: {p}") from None
    except OSError as exc:
        raise InputFileError(f"{what}: {p} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{what}: {p} is a folder; give the file inside it")
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{what}: {p} is not a regular file (a pipe, socket or device); "
                             "give a file")
    if not os.access(p, os.R_OK):
        raise InputFileError(f"{what}: {p} cannot be read (permission denied)")
    return p


def path_key(path: str | os.PathLike[str]) -> str:
    """The SHA-1 hex digest of ``path``'s absolute, resolved form: a file name that stands for
    the path (callers keep as many characters as they need)."""
    return hashlib.sha1(str(Path(path).resolve()).encode("utf-8", "surrogatepass")).hexdigest()


def is_installed_resource(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies inside LayerForge's own shipped resources (a template): such files
    are never written, and their runs go to the user's data folder."""
    try:
        root = resources_dir().resolve()
    except (FileNotFoundError, OSError):
        return False
    return Path(path).resolve().is_relative_to(root)


def can_write_beside(path: str | os.PathLike[str]) -> bool:
    """Whether the folder of ``path`` takes new files and ``path`` itself (when it exists) may
    be replaced: false for templates, read-only files and read-only folders."""
    p = Path(path)
    if is_installed_resource(p):
        return False
    folder = p.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return False
    return not p.exists() or os.access(p, os.W_OK)
