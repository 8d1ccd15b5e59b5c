"""Run folders, the locks behind them, the three-way merge of project files, and exports that
cannot destroy their sources: the core of "nothing is lost"."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import RunSetupError
from app.core.filelock import FileLock, LockTimeout, is_locked
from app.core.merge import merge_projects
from app.core.paths import user_data_dir
from app.core.project import Project
from app.core.runs import RunFolder, list_runs, read_record, runs_root


def test_a_lock_is_held_by_a_live_handle_and_dropped_with_its_process(tmp_path):
    path = tmp_path / "x.lock"
    assert not is_locked(path)
    with subprocess.Popen([sys.executable, "-c",
                           "import sys, time; sys.path.insert(0, sys.argv[1]);"
                           "from app.core.filelock import FileLock;"
                           "lock = FileLock(sys.argv[2], note='child').acquire();"
                           "print('held', flush=True); time.sleep(60)",
                           str(Path(__file__).resolve().parents[2]), str(path)],
                          stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline().strip() == "held"
            assert is_locked(path) and path.read_text() == "child"
            with pytest.raises(LockTimeout, match="stayed locked by another process"):
                FileLock(path).acquire(timeout=0.1)
        finally:
            child.kill()  # however a process ends, the OS lets go of its lock
    assert not is_locked(path)
    with FileLock(path) as lock:
        assert lock.held and is_locked(path)
    assert not is_locked(path)


def test_runs_claimed_at_once_get_folders_of_their_own(tmp_path):
    got: list[RunFolder] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            got.append(RunFolder.claim_new(tmp_path / "runs", "test", stamp="20260101-000000"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = sorted(f.path.name for f in got)
    assert names == sorted(["20260101-000000"] + [f"20260101-000000-{i}" for i in range(2, 9)])
    assert all(read_record(f.path)["status"] == "running" for f in got)
    for f in got:
        f.release()


def test_a_folder_holding_a_run_is_never_reused_and_a_live_one_not_resumed(tmp_path):
    first = RunFolder.claim(tmp_path / "out", "test")
    second = RunFolder.claim(tmp_path / "out", "test")  # taken (alive): the next name
    assert (first.path.name, second.path.name) == ("out", "out-2")
    ckpt = first.path / "checkpoints" / "last.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    with pytest.raises(RunSetupError, match="is still training"):
        RunFolder.claim(tmp_path / "out", "test", resume_of=ckpt)
    first.update(status="completed")
    first.release()
    third = RunFolder.claim(tmp_path / "out", "test")  # finished, but it holds a run
    assert third.path.name == "out-3"
    again = RunFolder.claim(tmp_path / "out", "test", resume_of=ckpt)  # resuming: its own
    assert again.path == first.path and read_record(first.path)["resumed"]
    for f in (second, third, again):
        f.release()


def test_where_runs_go(tmp_path, monkeypatch):
    saved = Project.from_template("spiral")
    saved.save(tmp_path / "a.json")
    assert runs_root(saved) == tmp_path / "runs" / "a"
    assert list_runs(saved) == []
    unsaved = Project.from_template("spiral")
    assert runs_root(unsaved).is_relative_to(user_data_dir())
    unsaved.runs_dir = tmp_path / "mine"  # the window gives each unsaved project its own
    assert runs_root(unsaved) == tmp_path / "mine"
    monkeypatch.setattr("app.core.runs.can_write_beside", lambda path: False)  # read-only
    root = runs_root(saved)
    assert root.is_relative_to(user_data_dir()) and root.name.startswith("a-")
    (tmp_path / "elsewhere").mkdir()
    other = Project.from_template("spiral")
    other.save(tmp_path / "elsewhere" / "a.json")
    assert runs_root(other) != root  # same name, another file: another folder


def test_a_file_that_cannot_be_written_is_told_apart(tmp_path):
    from app.core.paths import can_write_beside
    from app.core.project import TEMPLATES_DIR

    assert can_write_beside(tmp_path / "new.json")
    assert not can_write_beside(TEMPLATES_DIR / "spiral.json")  # shipped with LayerForge
    assert not can_write_beside(tmp_path / "no" / "such" / "folder.json")


def test_a_run_whose_process_died_shows_as_interrupted(tmp_path):
    project = Project.from_template("spiral")
    project.save(tmp_path / "p.json")
    folder = RunFolder.claim_new(runs_root(project), "test")
    [live] = list_runs(project)
    assert live["live"] and live["status"] == "running"
    folder.lock.release()  # as a kill -9 would: no end written, the lock gone
    [dead] = list_runs(project)
    assert not dead["live"] and dead["status"] == "interrupted"
    assert "ended without finishing" in dead["message"]


# -------------------------------------------------------------------- merge
def _base() -> dict:
    return Project.from_template("spiral").to_dict()


def test_edits_to_different_things_merge():
    base = _base()
    mine, theirs = Project.from_dict(base), Project.from_dict(base)
    mine.graph.set_param("fc1", "out_features", 8)
    mine.graph.add_node("Dropout", "drop", {"p": 0.1})
    theirs.training["epochs"] = 99
    theirs.graph.move("fc3", (10.0, 20.0))
    theirs.name = "renamed"
    merged, conflicts = merge_projects(base, mine.to_dict(), theirs.to_dict())
    assert conflicts == []
    result = Project.from_dict(merged)
    assert result.graph.node("fc1").params["out_features"] == 8 and "drop" in result.graph
    assert result.training["epochs"] == 99 and result.graph.node("fc3").pos == (10.0, 20.0)
    assert result.name == "renamed"
    assert [n.name for n in result.graph][:3] == [n.name for n in mine.graph][:3]


def test_edits_to_the_same_thing_are_named_as_conflicts():
    base = _base()
    mine, theirs = Project.from_dict(base), Project.from_dict(base)
    mine.graph.set_param("fc1", "out_features", 8)
    theirs.graph.set_param("fc1", "out_features", 32)
    mine.training["optimizer"] = {"name": "SGD", "lr": 0.1}
    theirs.training["optimizer"] = {"name": "Adam", "lr": 0.5}
    theirs.graph.remove_node("fc2")
    mine.graph.set_param("fc2", "out_features", 4)
    _, conflicts = merge_projects(base, mine.to_dict(), theirs.to_dict())
    assert "node fc1: changed here and in the file, differently" in conflicts
    assert "training.optimizer: changed here and in the file, differently" in conflicts
    assert "node fc2: changed here, deleted in the file" in conflicts
    same = Project.from_dict(base)
    same.training["epochs"] = 5
    merged, conflicts = merge_projects(base, same.to_dict(), same.to_dict())
    assert conflicts == [] and merged["training"]["epochs"] == 5  # the same edit twice


# -------------------------------------------------------------------- export
def test_the_pytorch_code_keeps_any_project_name_as_written(tmp_path):
    from app.core.exporting import export_project
    from engine.export import save_weights
    from engine.graph import compile_graph

    project = Project.from_template("spiral")
    weights = save_weights(compile_graph(project.graph, seed=0).state_dict(),
                           tmp_path / "w.safetensors")
    for i, name in enumerate(['a """quoted""" name', "C:\\Users\\me", "nul\x00byte",
                              "ends with \\", "tab\tand 'quote'", "émoji ✓"]):
        project.name = name
        [code, _] = export_project(project, "pytorch", tmp_path / f"out{i}", weights=weights)
        source = code.read_text(encoding="utf-8")
        module = compile(source, str(code), "exec")  # it compiles, and its docstring
        assert module.co_consts[0].startswith(f"{name}: generated by LayerForge")  # reads back


def test_non_finite_normalisation_is_refused_by_the_exporters(tmp_path):
    from engine.export import ExportError, Normalization

    for bad in ({"mean": [float("nan")], "std": [1.0]}, {"mean": [0.0], "std": [float("inf")]},
                {"mean": [0.0], "std": [0.0]}):
        with pytest.raises(ExportError, match="cannot be used"):
            Normalization.from_settings(bad)
    assert Normalization.from_settings({"mean": [0.5], "std": [0.25]}).std == (0.25,)
    assert np.isfinite(Normalization.from_settings({"mean": [0.0], "std": [1e-3]}).std).all()
