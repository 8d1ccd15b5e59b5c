"""What the app remembers between runs (QSettings): recent files, window geometry and dock
layout, and where autosaves go.

``LAYERFORGE_SETTINGS`` (an INI file path) and ``LAYERFORGE_RECOVERY_DIR`` redirect both, so
tests and portable installs leave the user's own settings alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths
from PySide6.QtWidgets import QMainWindow

from .constants import APP_NAME, MAX_RECENT_FILES, ORG_NAME
from .theme import THEMES


class AppSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        if settings is None:
            path = os.environ.get("LAYERFORGE_SETTINGS")
            settings = (QSettings(path, QSettings.Format.IniFormat) if path
                        else QSettings(ORG_NAME, APP_NAME))
        self.qsettings = settings

    # ---------------------------------------------------------------- recent files
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recentFiles", [])
        if isinstance(value, str):  # INI stores a one-item list as a plain string
            value = [value] if value else []
        return [str(v) for v in (value or [])][:MAX_RECENT_FILES]

    def add_recent(self, path: str | os.PathLike[str]) -> list[str]:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files() if f != p]
        files.insert(0, p)
        return self._set_recent(files[:MAX_RECENT_FILES])

    def remove_recent(self, path: str | os.PathLike[str]) -> list[str]:
        p = str(Path(path).resolve())
        return self._set_recent([f for f in self.recent_files() if f != p])

    def clear_recent(self) -> None:
        self._set_recent([])

    def _set_recent(self, files: list[str]) -> list[str]:
        self.qsettings.setValue("recentFiles", files)
        self.qsettings.sync()
        return files

    # ---------------------------------------------------------------- window layout
    def save_window(self, window: QMainWindow) -> None:
        self.qsettings.setValue("window/geometry", window.saveGeometry())
        self.qsettings.setValue("window/state", window.saveState())
        self.qsettings.sync()

    def restore_window(self, window: QMainWindow) -> bool:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        ok = False
        if isinstance(geometry, QByteArray | bytes) and geometry:
            ok = window.restoreGeometry(geometry)
        if isinstance(state, QByteArray | bytes) and state:
            ok = window.restoreState(state) and ok
        return ok

    def value(self, key: str, default: object = None) -> object:
        return self.qsettings.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, value)

    # ---------------------------------------------------------------- look
    def theme(self) -> str:
        value = str(self.qsettings.value("theme", "system"))
        return value if value in THEMES else "system"

    def set_theme(self, value: str) -> None:
        self.qsettings.setValue("theme", value)
        self.qsettings.sync()

    # ---------------------------------------------------------------- places
    def recovery_dir(self) -> Path:
        path = os.environ.get("LAYERFORGE_RECOVERY_DIR")
        if not path:
            base = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.AppLocalDataLocation)
            path = os.path.join(base or os.path.expanduser("~/.layerforge"), "recovery")
        return Path(path)

    def last_dir(self) -> str:
        return str(self.qsettings.value("lastDir", os.path.expanduser("~")))

    def set_last_dir(self, path: str | os.PathLike[str]) -> None:
        self.qsettings.setValue("lastDir", str(Path(path).parent))
