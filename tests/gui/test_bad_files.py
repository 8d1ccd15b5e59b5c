"""The window's doors for hostile files: opening each file of ``hostile_files`` shows a dialog
naming the problem (or opens the project, its problems listed), never a traceback; a bug in a
slot is logged and shown in a dialog that names the log."""

from __future__ import annotations

import sys

import pytest
from hostile_files import PROJECTS, spoiled_projects, write_json, write_project
from hypothesis import HealthCheck, given, settings


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_opening_a_bad_file_says_why_in_a_dialog(make_window, qtbot, tmp_path, name):
    path = write_project(tmp_path, name)
    before = path.read_bytes()
    win = make_window()
    opened = win.files.open_path(path)
    words = PROJECTS[name][1]
    if opened:  # readable: what is wrong is said when training is asked for
        assert win.doc.project.path == path.absolute()
        dash = win.training.dashboard
        dash.show_dialogs = False
        if dash.start_training():
            qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=30000)
        failure = dash.last_failure
        assert failure is not None and failure.kind != "crash", failure
        assert words in failure.text(), failure.text()
    else:
        box = win.files.last_error
        assert box is not None and box.isVisible()
        assert words in box.text() + box.informativeText(), box.text()
    assert path.read_bytes() == before


def test_a_bug_in_the_window_is_logged_and_named_in_a_dialog(make_window, qtbot):
    from app.core import logfile
    from app.gui.app import install_bug_handler

    make_window()
    saved = sys.excepthook
    install_bug_handler()
    try:
        try:
            raise KeyError("a bug in a slot")
        except KeyError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.excepthook = saved
    from PySide6.QtWidgets import QApplication

    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "bugDialog"]
    assert boxes and "a bug in a slot" in boxes[-1].text()
    assert str(logfile.log_path()) in boxes[-1].informativeText()
    logfile.close_log()
    assert "a bug in a slot" in logfile.log_path().read_text(encoding="utf-8")
    for box in boxes:
        box.close()


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=spoiled_projects())
def test_spoiled_projects_open_in_the_window_or_say_why(qapp, tmp_path_factory, data):
    from app.gui.main_window import MainWindow

    path = tmp_path_factory.mktemp("spoiled") / "p.json"
    raw = write_json(path, data)
    win = MainWindow(autosave=False)
    try:
        if not win.files.open_path(path):
            box = win.files.last_error
            assert box is not None and box.text()
            box.close()
        else:
            win.view.show_default()  # the view copes with whatever positions it got
    finally:
        win.doc.undo_stack.setClean()
        win.files.ask_save_changes = lambda: "discard"
        win.close()
    assert path.read_bytes() == raw
