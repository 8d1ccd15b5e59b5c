"""PyInstaller hook for PySide6.QtGui: PyInstaller's own, minus the Qt plugins the bundle does
not keep (``packaging/qt_plugins.py``), dropped here so their libraries are not collected."""

import sys
from pathlib import Path

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qt_plugins import plugin_kept  # noqa: E402

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(src, dest) for src, dest in binaries if plugin_kept(f"{dest}/{Path(src).name}")]
