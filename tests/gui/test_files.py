"""Files: save and reopen, bad files, the modified marker, closing with unsaved changes, recent
files, dropped project files, autosave and crash recovery."""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from app.core.project import Project
from app.gui.autosave import Autosaver, find_recoveries
from app.gui.settings import AppSettings


def _graph_and_settings(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "name"}


def test_save_and_reopen_gives_the_same_project(make_window, tmp_path):
    win = make_window("lenet5")
    win.doc.set_param("conv1", "out_channels", 10)
    win.doc.move_nodes({"relu1": (333.5, 12.25)})
    path = tmp_path / "net.lfproj"
    assert win.files.write(path)
    assert not win.isWindowModified() and "net.lfproj" in win.windowTitle()
    other = make_window()
    assert other.files.open_path(path)
    assert other.doc.serialized() == win.doc.serialized()
    assert set(other.scene.node_items) == set(win.doc.graph.nodes)
    assert other.doc.project.path == path
    assert AppSettings().recent_files()[0] == str(path.resolve())


def test_save_as_adds_the_suffix(make_window, tmp_path, monkeypatch):
    win = make_window("spiral")
    monkeypatch.setattr(win.files, "ask_save_path", lambda: str(tmp_path / "spiral"))
    assert win.files.save()
    assert (tmp_path / "spiral.lfproj").is_file()
    assert Project.load(tmp_path / "spiral.lfproj").to_dict() == win.doc.serialized()


def test_corrupt_file_shows_the_problem_and_is_left_untouched(make_window, tmp_path):
    path = tmp_path / "broken.lfproj"
    good = Project.from_template("mlp_digits").to_dict()
    text = json.dumps(good, indent=2)
    broken = text[: len(text) // 2]  # a file cut off mid-write
    path.write_text(broken, encoding="utf-8")
    win = make_window("spiral")
    before = win.doc.serialized()
    assert not win.files.open_path(path)
    box = win.files.last_error
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "broken.lfproj" in box.text() and "invalid JSON" in box.text()
    assert "line" in box.text()
    box.button(QMessageBox.StandardButton.Ok).click()  # dismiss it as a user would
    assert not box.isVisible()
    assert path.read_text(encoding="utf-8") == broken
    assert win.doc.serialized() == before


def test_file_with_a_bad_value_names_its_place(make_window, tmp_path):
    data = Project.from_template("mlp_digits").to_dict()
    data["training"]["batch_size"] = -4
    path = tmp_path / "bad.lfproj"
    path.write_text(json.dumps(data), encoding="utf-8")
    raw = path.read_bytes()
    win = make_window()
    assert not win.files.open_path(path)
    assert "training.batch_size" in win.files.last_error.text()
    win.files.last_error.close()
    assert path.read_bytes() == raw


def test_title_shows_unsaved_changes(make_window, tmp_path):
    win = make_window("spiral")
    assert win.windowTitle().startswith("Spiral") and "[*]" in win.windowTitle()
    assert not win.isWindowModified()
    win.doc.set_param("fc1", "out_features", 32)
    assert win.isWindowModified()
    win.doc.undo_stack.undo()
    assert not win.isWindowModified()
    win.doc.undo_stack.redo()
    win.files.write(tmp_path / "s.lfproj")
    assert not win.isWindowModified()


def test_closing_with_unsaved_changes_asks(make_window, monkeypatch, tmp_path):
    win = make_window("spiral")
    win.doc.set_param("fc1", "out_features", 32)
    asked = []
    monkeypatch.setattr(win.files, "ask_save_changes", lambda: asked.append(1) or "cancel")
    assert not win.close()
    assert win.isVisible() and asked
    monkeypatch.setattr(win.files, "ask_save_changes", lambda: "save")
    monkeypatch.setattr(win.files, "ask_save_path", lambda: str(tmp_path / "kept.lfproj"))
    assert win.close()
    saved = Project.load(tmp_path / "kept.lfproj")
    assert saved.graph.node("fc1").params["out_features"] == 32


def test_new_from_template_and_blank(make_window, monkeypatch):
    win = make_window()
    assert win.files.new_from_template("lenet5")
    assert len(win.doc.graph) == len(win.scene.node_items) > 5
    win.doc.set_param("conv1", "out_channels", 4)
    monkeypatch.setattr(win.files, "ask_save_changes", lambda: "discard")
    assert win.files.new_blank()
    assert not len(win.doc.graph) and not win.scene.node_items
    assert not win.doc.undo_stack.count()
    win.template_menu.aboutToShow.emit()
    titles = [a.text() for a in win.template_menu.actions()]
    assert "LeNet-5 on digits 28x28" in titles


def test_recent_files_menu(make_window, tmp_path):
    win = make_window("spiral")
    paths = []
    for i in range(3):
        p = tmp_path / f"p{i}.lfproj"
        win.files.write(p)
        paths.append(str(p.resolve()))
    assert AppSettings().recent_files()[:3] == paths[::-1]
    win.recent_menu.aboutToShow.emit()
    actions = [a for a in win.recent_menu.actions() if a.toolTip() in paths]
    assert [a.toolTip() for a in actions] == paths[::-1]
    (tmp_path / "p1.lfproj").unlink()
    assert not win.files.open_path(paths[1])
    win.files.last_error.close()
    assert paths[1] not in AppSettings().recent_files()


def test_dropping_a_project_file_on_the_window_opens_it(make_window, tmp_path):
    path = tmp_path / "dropped.lfproj"
    Project.from_template("lenet5").save(path)
    win = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.view.dropEvent(event)
    assert win.doc.project.path == path and "conv1" in win.scene.node_items


def test_autosave_writes_and_clean_close_removes_it(make_window, tmp_path):
    win = make_window("spiral")
    saver = win.files.autosaver
    assert saver.timer.interval() == 60_000 and saver.timer.isActive()
    assert saver.save_now() is None  # nothing unsaved, nothing written
    win.doc.set_param("fc1", "out_features", 8)
    path = saver.save_now()
    assert path is not None and path.is_file()
    data = json.loads(path.read_text())
    assert data["project"] == win.doc.serialized()
    # a running window's autosave is not offered as a crash leftover
    assert find_recoveries(saver.directory) == []
    win.files.write(tmp_path / "saved.lfproj")
    assert not path.exists()


def test_recovery_after_a_crash(qtbot, tmp_path):
    from app.gui.app import WindowManager
    from app.gui.document import GraphDocument

    recovery_dir = AppSettings().recovery_dir()
    # a session that crashed: its autosave exists and nobody holds its lock
    doc = GraphDocument(Project.from_template("spiral"))
    doc.set_param("fc1", "out_features", 5)
    saver = Autosaver(doc, recovery_dir)
    path = saver.save_now()
    saver._lock.unlock()  # what the operating system does when the process dies
    saver._lock = None
    found = find_recoveries(recovery_dir)
    assert [r.path for r in found] == [path]
    manager = WindowManager()
    first = manager.new_window()
    try:
        opened = manager.offer_recovery(ask=lambda rec: "recover")
        assert opened == [first]  # the empty start window takes it
        assert first.doc.graph.node("fc1").params["out_features"] == 5
        assert first.isWindowModified()
        assert not path.exists()
    finally:
        for w in list(manager.windows):
            w.files.ask_save_changes = lambda: "discard"
            w.close()


def test_a_template_opened_as_a_file_is_never_written(make_window, tmp_path, monkeypatch):
    from app.core.project import TEMPLATES_DIR

    template = TEMPLATES_DIR / "spiral.json"
    before = template.read_bytes()
    win = make_window()
    assert win.files.open_path(template)
    win.doc.rename("fc1", "first")
    monkeypatch.setattr(win.files, "ask_save_path", lambda: str(tmp_path / "mine.json"))
    assert win.files.save()  # Save becomes Save As: the template stays as shipped
    assert template.read_bytes() == before
    assert win.doc.project.path == tmp_path / "mine.json" and not win.doc.modified
    assert "first" in Project.load(tmp_path / "mine.json").graph
