"""The dashboard inside the editor's main window: a Training tab and a Train menu; training a
compiled copy, so the graph stays editable during a run; the run kept in its own folder (the
project file is never written by a run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.project import Project
from app.core.runs import list_runs

pytest.importorskip("app.gui.main_window")


@pytest.fixture
def window(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERFORGE_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("LAYERFORGE_RECOVERY_DIR", str(tmp_path / "recovery"))
    project = Project.from_template("spiral")
    project.training["epochs"] = 3
    project.save(tmp_path / "spiral.json")
    return make_window(Project.load(tmp_path / "spiral.json"), autosave=False)


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
    assert [r["id"] for r in list_runs(window.doc.project)] == [out.run_dir.name]
    assert host.act_train.isEnabled()
    saved = json.loads((tmp_path / "spiral.json").read_text())
    assert "runs" not in saved and saved == Project.load(tmp_path / "spiral.json").base


def test_a_saved_project_stays_as_it_was_after_a_run(qtbot, window, tmp_path):
    before = (tmp_path / "spiral.json").read_bytes()
    dash = window.training.dashboard
    dash.show_dialogs = False
    assert window.training.train()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    assert dash.last_outcome.reason == "completed"
    assert (tmp_path / "spiral.json").read_bytes() == before
    assert [r["id"] for r in list_runs(window.doc.project)] == [dash.last_outcome.run_dir.name]
    assert not window.doc.modified


def test_a_trained_unsaved_project_is_modified_and_says_its_runs_would_be_lost(qtbot):
    from app.core.paths import user_data_dir
    from app.gui.main_window import MainWindow

    win = MainWindow(Project.from_template("spiral"), autosave=False)
    qtbot.addWidget(win)
    win.doc.project.training["epochs"] = 1
    assert not win.doc.modified
    dash = win.training.dashboard
    dash.show_dialogs = False
    assert win.training.train()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    out = dash.last_outcome
    assert out.reason == "completed"
    assert out.run_dir.is_relative_to(user_data_dir())  # not the system temp folder
    assert win.doc.modified and win.isWindowModified()
    assert "its 1 training run (weights and charts) will be lost" in win.files.unsaved_text()
    asked = []
    win.files.ask_save_changes = lambda: asked.append(1) or "discard"
    win.files.new_blank()  # discarding drops the runs the prompt said would be lost
    assert asked and not out.run_dir.exists()
    win.doc.undo_stack.setClean()


def test_saving_an_unsaved_trained_project_keeps_its_runs(qtbot, tmp_path):
    from app.gui.main_window import MainWindow

    win = MainWindow(Project.from_template("spiral"), autosave=False)
    qtbot.addWidget(win)
    win.doc.project.training["epochs"] = 1
    dash = win.training.dashboard
    dash.show_dialogs = False
    assert win.training.train()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    assert win.files.write(tmp_path / "kept.json")
    [run] = list_runs(win.doc.project)
    assert Path(run["folder"]).parent == tmp_path / "runs" / "kept"
    assert (Path(run["folder"]) / "weights.safetensors").is_file()
    assert not win.doc.modified


def test_switching_project_resets_every_run_view(qtbot, window):
    dash = window.training.dashboard
    dash.show_dialogs = False
    assert window.training.train()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    dash.charts.readout.setText("step 12: loss 0.5")  # as a hover leaves it
    dash.show()
    dash.view_tabs.setCurrentWidget(dash.evaluation)
    qtbot.waitUntil(lambda: dash.evaluation.grid.count() > 0)
    assert dash.evaluation.result is not None and dash.history.best_checkpoint is not None
    assert "Finished" in dash.progress.status.text()
    window.files.new_from_template("mlp_digits")
    assert dash.evaluation.result is None and dash.evaluation.grid.count() == 0
    assert dash.evaluation.matrix.rowCount() == 0
    assert len(dash.history) == 0 and dash.history.best_checkpoint is None
    assert dash.charts.readout.text() == "Hover over a chart to read its values"
    assert dash.progress.status.text() in ("", "Ready to train")
    assert dash.progress.bar.value() == 0 and dash.progress.metrics.text() == ""
    assert dash.message_label.text() == "" and dash.runs.tree.topLevelItemCount() == 0
    assert dash.current_run is None and dash.last_outcome is None
