"""Nothing is lost when the window, ``layerforge train`` processes and other programs work on one
project at once: runs never write the project file and never share a folder, and the window
notices its file changing on disk (reloading it, or asking when it has edits of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.project import Project
from app.core.runs import list_runs, read_record

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, epochs: int = 1) -> Path:
    project = Project.from_template("spiral")
    project.dataset["options"]["n_samples"] = 200
    project.training["epochs"] = epochs
    return project.save(tmp_path / "spiral.json")


def _cli(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "app", "train", *argv, "--quiet"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def test_window_save_after_a_cli_run_recorded_itself(make_window, tmp_path):
    path = _project(tmp_path)
    win = make_window(Project.load(path))
    _finish(_cli(str(path)))  # the run records itself in its folder, not in the file
    win.doc.rename("fc1", "first")
    assert win.files.save()  # nothing to refuse: the file is as the window read it
    saved = Project.load(path)
    assert "first" in saved.graph and "runs" not in saved.to_dict()
    [run] = list_runs(saved)
    assert run["status"] == "completed" and run["source"] == "cli"
    dash = win.training.dashboard
    dash.runs.refresh()
    assert dash.runs.tree.topLevelItemCount() == 1


@pytest.mark.slow
def test_a_cli_run_that_ends_after_a_window_save_keeps_the_edit(make_window, qtbot, tmp_path):
    path = _project(tmp_path, epochs=100000)
    win = make_window(Project.load(path))
    proc = _cli(str(path), "--epochs", "40")
    assert proc.stdout.readline().startswith("training 'Spiral")  # it is running
    win.doc.rename("fc2", "second")
    assert win.files.save()
    _finish(proc)
    saved = Project.load(path)
    assert "second" in saved.graph and saved.training["epochs"] == 100000  # the edit stands
    [run] = list_runs(saved)
    assert run["status"] == "completed" and run["epochs_completed"] == 40
    snapshot = Project.load(Path(run["folder"]) / "project.json")
    assert "fc2" in snapshot.graph  # the run kept the graph it started with


@pytest.mark.slow
@pytest.mark.parametrize("same_out", [True, False], ids=["same --out", "default --out"])
def test_two_cli_runs_into_one_project_at_once(tmp_path, same_out):
    path = _project(tmp_path, epochs=30)
    before = path.read_bytes()
    out = ["--out", str(tmp_path / "run")] if same_out else []
    procs = [_cli(str(path), "--seed", str(seed), *out) for seed in (1, 2)]
    for proc in procs:
        _finish(proc)
    assert path.read_bytes() == before
    runs = list_runs(Project.load(path))
    assert len(runs) == 2 and len({r["folder"] for r in runs}) == 2
    if same_out:
        assert {Path(r["folder"]).name for r in runs} == {"run", "run-2"}
    seeds = set()
    for r in runs:
        folder = Path(r["folder"])
        record = read_record(folder)
        assert record["status"] == "completed" and record["epochs_completed"] == 30
        seeds.add(record["settings"]["seed"])
        log = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        assert [e["kind"] for e in log].count("fit_start") == 1  # one run per log
        assert [e["epoch"] for e in log if e["kind"] == "epoch_end"] == list(range(30))
    assert seeds == {1, 2}


def test_the_window_reloads_its_file_when_it_has_no_edits(make_window, qtbot, tmp_path):
    path = _project(tmp_path)
    win = make_window(Project.load(path))
    other = Project.load(path)
    other.name = "changed elsewhere"
    other.save()
    qtbot.waitUntil(lambda: win.doc.project.name == "changed elsewhere", timeout=5000)
    assert not win.doc.modified and win.files.conflict_box is None
    assert "Reloaded spiral.json" in win.statusBar().currentMessage()


def test_the_window_asks_when_both_sides_changed_and_merges(make_window, qtbot, tmp_path):
    path = _project(tmp_path)
    win = make_window(Project.load(path))
    win.doc.rename("fc1", "mine")  # an unsaved edit here
    other = Project.load(path)
    other.training["epochs"] = 7  # and another program's saved edit elsewhere
    other.save()
    qtbot.waitUntil(lambda: win.files.conflict_box is not None, timeout=5000)
    assert win.files.conflict_box.isVisible()
    assert win.doc.project.training["epochs"] == 1  # nothing changed behind the user's back
    assert win.files.resolve_disk_change("merge")
    project = win.doc.project
    assert "mine" in project.graph and project.training["epochs"] == 7 and win.doc.modified
    assert win.files.save()  # the merge is based on the file as it is now: no refusal
    saved = Project.load(path)
    assert "mine" in saved.graph and saved.training["epochs"] == 7


def test_a_save_over_a_changed_file_asks_and_conflicts_are_named(make_window, qtbot,
                                                                 tmp_path):
    path = _project(tmp_path)
    win = make_window(Project.load(path))
    win.files._check_timer.stop()
    win.files.watcher.blockSignals(True)  # as if the change came between two looks
    win.doc.set_param("fc1", "out_features", 8)
    other = Project.load(path)
    other.graph.set_param("fc1", "out_features", 32)  # the same node, changed differently
    other.save()
    assert not win.files.save()  # refused, and asked instead of overwriting
    assert win.files.conflict_box is not None
    assert Project.load(path).graph.node("fc1").params["out_features"] == 32
    assert not win.files.resolve_disk_change("merge")
    box = win.files.conflict_box  # asked again, with what could not be merged
    assert box is not None and "node fc1: changed here and in the file, differently" in \
        box.informativeText()
    assert not next(b for b in box.buttons() if b.text() == "Merge").isEnabled()
    assert win.doc.project.graph.node("fc1").params["out_features"] == 8  # nothing changed
    assert win.files.resolve_disk_change("keep")  # the user's explicit choice
    assert win.files.save()
    assert Project.load(path).graph.node("fc1").params["out_features"] == 8
