"""The log file: where a bug's traceback goes (and what led to it), so that a person who saw a
one-line message or an error dialog can send the details.

Why a file and not only stderr: the window has no terminal, and a one-line message on the
command line is kept short on purpose. ``<user data folder>/logs/layerforge.log`` holds the
last few megabytes (rotated); the dialogs and the command line name it whenever they report a
bug. Nothing is written to it unless something happens: importing this module creates no file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import traceback
from pathlib import Path

from .paths import user_data_dir

LOGGER_NAME = "layerforge"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 2
_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def log_path() -> Path:
    """``<user data folder>/logs/layerforge.log``."""
    return user_data_dir() / "logs" / "layerforge.log"


def logger() -> logging.Logger:
    """The app's logger, writing to ``log_path()`` (the handler is added on first use, and
    again when the data folder changed, as it does between tests)."""
    log = logging.getLogger(LOGGER_NAME)
    path = log_path()
    for handler in list(log.handlers):
        if getattr(handler, "_layerforge_path", None) == path:
            return log
        if hasattr(handler, "_layerforge_path"):
            log.removeHandler(handler)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES,
                                                       backupCount=BACKUPS, encoding="utf-8",
                                                       delay=True)
    except OSError:
        return log  # an unwritable data folder: the caller still shows its message
    handler._layerforge_path = path  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(_FORMAT))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def log_bug(exc: BaseException, context: str = "") -> Path:
    """Write ``exc`` with its traceback to the log; returns the log's path for the message.
    The file is flushed before returning: the process may be about to end."""
    log = logger()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("%s%s", f"{context}: " if context else "", text.rstrip())
    for handler in log.handlers:
        handler.flush()
    return log_path()


def log_problem(message: str) -> None:
    """A user's error (a bad file, a setting): one line in the log, for the record of what
    happened before a bug, if one follows."""
    logger().warning("%s", " ".join(message.split()))


def close_log() -> None:
    """Close the log file (tests; the end of the process closes it anyway)."""
    log = logging.getLogger(LOGGER_NAME)
    for handler in list(log.handlers):
        if hasattr(handler, "_layerforge_path"):
            log.removeHandler(handler)
            handler.close()


def bug_report_hint(path: Path | None = None) -> str:
    """The sentence that names the log: the same words on the command line and in dialogs."""
    path = path or log_path()
    return (f"This is a bug in LayerForge; the details are in {os.fspath(path)} — please "
            "attach that file when you report it.")
