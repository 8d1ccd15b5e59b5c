"""Fixtures for the dashboard tests: a saved spiral project in a temporary folder (its runs go
there too) and a dashboard on it, offscreen, with failure dialogs turned off."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

import app.dashboard  # noqa: E402,F401 - applies the PySide6 refcount workaround first
from app.core.project import Project  # noqa: E402


@pytest.fixture
def spiral_project(tmp_path: Path) -> Project:
    project = Project.from_template("spiral")
    project.training["epochs"] = 6
    project.save(tmp_path / "spiral.json")
    return project


@pytest.fixture
def dashboard(qtbot, spiral_project: Project):
    from app.dashboard.dashboard import TrainingDashboard

    dash = TrainingDashboard(spiral_project, auto_preview=False)
    dash.show_dialogs = False
    qtbot.addWidget(dash)
    yield dash
    dash.shutdown()
