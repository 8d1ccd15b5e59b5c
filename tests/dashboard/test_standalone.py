"""Every dashboard widget runs alone with sample data (``python -m app.dashboard.<module>``):
each module's ``main`` is run here offscreen and must save a non-empty screenshot."""

from __future__ import annotations

import importlib

import pytest
from PySide6 import QtGui

MODULES = [("charts", ["--points", "2000"]), ("training_panel", []), ("data_panel", []),
           ("evaluation", []), ("progress", []), ("errors", ["--kind", "oom"]), ("runs", []),
           ("export_dialog", []),
           ("dashboard", ["--template", "spiral", "--train", "--epochs", "3"])]


@pytest.mark.parametrize("name,args", MODULES, ids=[m for m, _ in MODULES])
def test_widget_runs_alone(qtbot, tmp_path, name, args):
    module = importlib.import_module(f"app.dashboard.{name}")
    png = tmp_path / f"{name}.png"
    delay = "1500" if name == "dashboard" else "300"
    assert module.main([*args, "--screenshot", str(png), "--delay-ms", delay]) == 0
    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() > 50 and image.height() > 50
