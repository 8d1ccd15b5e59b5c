"""Every widget runs alone with sample data (``python -m app.qt.preview NAME``): each preview is
run here offscreen and must save a non-empty screenshot; ``window`` starts the real application
and quits after its first paint."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtGui  # noqa: E402

from app.qt.preview import PREVIEWS, main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARGS = {"charts": ["--points", "2000"], "failure": ["--kind", "oom"],
        "dashboard": ["--template", "spiral", "--train", "--epochs", "3", "--delay-ms", "1500"]}


@pytest.mark.parametrize("name", list(PREVIEWS))
def test_every_preview_runs_alone(qtbot, tmp_path, monkeypatch, name):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its sample runs go here
    png = tmp_path / f"{name}.png"
    args = ARGS.get(name, [])
    delay = [] if "--delay-ms" in args else ["--delay-ms", "300"]
    assert main([name, *args, "--screenshot", str(png), *delay]) == 0
    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() > 50 and image.height() >= 30


def test_unknown_preview_names_the_known_ones(capsys):
    assert main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "no preview named 'nope'" in err and "training_panel" in err


@pytest.mark.slow
def test_the_application_starts_and_paints_its_first_window(tmp_path):
    from app.core.project import Project

    path = tmp_path / "p.json"
    Project.from_template("spiral").save(path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               LAYERFORGE_SETTINGS=str(tmp_path / "s.ini"),
               LAYERFORGE_RECOVERY_DIR=str(tmp_path / "rec"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "app.qt.preview", "window", str(path)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "first window shown after" in proc.stderr and "Traceback" not in proc.stderr
    assert str(path.resolve()) in (tmp_path / "s.ini").read_text()  # it was opened
