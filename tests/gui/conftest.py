"""Fixtures for the editor's tests: headless Qt, settings and autosaves in a temporary folder
(never the user's), and main windows that are closed without questions afterwards."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERFORGE_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("LAYERFORGE_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("LAYERFORGE_THEME", "light")


@pytest.fixture(autouse=True)
def _no_blocking_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang the run: fail the test instead."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    def refuse(*args, **kwargs):
        raise AssertionError("a blocking dialog was opened in a test; answer it with "
                             "monkeypatch instead")

    monkeypatch.setattr(QMessageBox, "exec", refuse)
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, refuse)


@pytest.fixture
def make_window(qtbot):
    """``make_window(project=None | Project | template name)`` -> a shown MainWindow."""
    from app.core.project import Project
    from app.gui.main_window import MainWindow

    windows = []

    def make(project=None, **kw):
        if isinstance(project, str):
            project = Project.from_template(project)
        win = MainWindow(project, **kw)
        win.resize(1200, 800)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.doc.undo_stack.setClean()  # no "save changes?" question on teardown
        win.files.ask_save_changes = lambda: "discard"
        if win.files.last_error is not None:
            win.files.last_error.close()
        win.close()
