"""Fixtures for the editor's tests: headless Qt, settings and autosaves in a temporary folder
(never the user's) and no blocking dialogs; ``make_window`` is in tests/conftest.py."""

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

