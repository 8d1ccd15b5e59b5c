"""The app's own errors: every problem a person can fix (a bad file, a setting out of range, a
network that does not fit its data, an export that would overwrite its source) is one of these.

Why one base: the command line turns any ``AppError`` into one line on stderr and a non-zero
exit, and the window into a dialog or the Problems panel; anything else is a bug and keeps its
traceback. Each message names the place (file, setting, node) and the fix.
"""

from __future__ import annotations

import os
from typing import Any


class AppError(Exception):
    """Base of the app's errors a user can act on."""


class ProjectError(AppError, ValueError):
    """A project file that cannot be read or used; the message names the file and the place
    (``line 12, column 5`` or ``training.batch_size``)."""

    def __init__(self, path: str | os.PathLike[str] | None, location: str, message: str) -> None:
        self.path = None if path is None else str(path)
        self.location = location
        self.detail = message
        where = ": ".join(x for x in (self.path, location) if x)
        super().__init__(f"{where}: {message}" if where else message)


class SettingsError(ProjectError):
    """A dataset or training setting of the wrong type or out of range."""


class ProjectChangedError(AppError):
    """The project file changed on disk since it was read: saving now would drop the other
    writer's change. ``theirs`` is the file's project as it is now (a dict), or None when it
    cannot be read."""

    def __init__(self, path: str | os.PathLike[str], theirs: dict[str, Any] | None) -> None:
        self.path = str(path)
        self.theirs = theirs
        super().__init__(f"{path} was changed by another program since it was opened; reload "
                         "it or merge the changes before saving")


class RunSetupError(AppError, ValueError):
    """A run that cannot start as set up (devices, settings, data against the network, the
    run folder); the message says which and what to change."""


class InputFileError(AppError, ValueError):
    """A file given to a command (weights to start from or export, a checkpoint) that is
    missing, a folder, or not a regular file (a pipe would block, a device never end)."""


class ExportRefusedError(AppError, ValueError):
    """An export that must not be written as asked: it would overwrite its own source (the
    project file, the weights being exported) or the format is unknown."""
