"""The dashboard inside the editor's main window: a Training tab and a Train menu; training a
compiled copy, so the graph stays editable during a run; the run recorded in the project."""

from __future__ import annotations

import json

import pytest

from app.project import Project

pytest.importorskip("app.gui.main_window")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERFORGE_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("LAYERFORGE_RECOVERY_DIR", str(tmp_path / "recovery"))
    from app.gui.main_window import MainWindow

    project = Project.from_template("spiral")
    project.training["epochs"] = 3
    project.save(tmp_path / "spiral.json")
    win = MainWindow(Project.load(tmp_path / "spiral.json"), autosave=False)
    win.show()
    yield win
    win.training.shutdown()
    win.doc.undo_stack.setClean()  # no "save changes?" question on closing
    win.files.ask_save_changes = lambda: "discard"
    win.close()
    win.deleteLater()


def test_training_tab_menu_and_editing_during_a_run(qtbot, window, tmp_path):
    host = window.training
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Training" in titles
    assert "&Train" in [a.text() for a in window.menuBar().actions()]
    assert host._dashboard is None  # built on demand: start-up does not pay for it
    window.tabs.setCurrentIndex(host.tab_index)
    dash = host.dashboard
    dash.show_dialogs = False
    assert dash.settings.document is window.doc
    window.doc.project.training["epochs"] = 40
    assert host.train()
    assert not host.act_train.isEnabled() and host.act_stop.isEnabled()
    # the graph stays editable while the copy trains
    qtbot.waitUntil(lambda: len(dash.history) >= 5, timeout=30000)
    window.doc.set_param("fc1", "out_features", 8)
    assert window.doc.project.graph.node("fc1").params["out_features"] == 8
    host.act_stop.trigger()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    out = dash.last_outcome
    assert out.reason == "stopped"
    snapshot = json.loads((out.run_dir / "project.json").read_text())
    fc1 = next(n for n in snapshot["graph"]["nodes"] if n["name"] == "fc1")
    assert fc1["params"]["out_features"] == 16  # the run kept the graph it started with
    assert window.doc.project.runs[-1]["id"] == out.run_dir.name
    assert host.act_train.isEnabled()
    # the edit is unsaved, so the run list waits for the next Save instead of being written
    saved = json.loads((tmp_path / "spiral.json").read_text())
    assert saved["runs"] == []


def test_a_clean_project_records_its_run_at_once(qtbot, window, tmp_path):
    dash = window.training.dashboard
    dash.show_dialogs = False
    assert window.training.train()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    assert dash.last_outcome.reason == "completed"
    saved = json.loads((tmp_path / "spiral.json").read_text())
    assert [r["id"] for r in saved["runs"]] == [dash.last_outcome.run_dir.name]
    assert not window.doc.modified
